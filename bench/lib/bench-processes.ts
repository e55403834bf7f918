// What the router benches start beside the router: upstream processes (bench/lib/
// upstream-server.ts, each printing its port) and free loopback ports.

import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const UPSTREAM_MAIN = fileURLToPath(new URL('./upstream-server.ts', import.meta.url));
const TSX = createRequire(import.meta.url).resolve('tsx');

/** An upstream answering a small body with keep-alive, named `name` in its answers. */
export function startUpstream(name: string): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, UPSTREAM_MAIN, name], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout!.once('data', (d: Buffer) => resolve({ child, port: Number(d.toString().trim()) }));
    child.on('error', reject);
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
