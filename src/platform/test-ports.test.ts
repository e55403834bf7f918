// freePort hands a port to one test process only: a second process running at the
// same time (another vitest worker) never gets a port the first still holds.

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';

const RANGE = '19890-19897';
const TSX = createRequire(import.meta.url).resolve('tsx');
const MODULE = fileURLToPath(new URL('./test-ports.ts', import.meta.url));

describe('freePort', () => {
  it('never hands a port another live process holds, and takes them back once it is gone', async () => {
    // Another process takes five of the eight ports and stays alive until told to exit.
    const other = spawn(process.execPath, ['--import', TSX, '--input-type=module', '-e', `
      const { freePort } = await import(${JSON.stringify(MODULE)});
      const ports = [];
      for (let i = 0; i < 5; i++) ports.push(await freePort());
      console.log(JSON.stringify(ports));
      process.stdin.on('data', () => process.exit(0));
    `], { env: { ...process.env, SLIPWAY_TEST_PORTS: RANGE }, stdio: ['pipe', 'pipe', 'inherit'] });
    const theirs = await new Promise<number[]>((resolve) => other.stdout!.once('data', (d: Buffer) => resolve(JSON.parse(d.toString()) as number[])));
    expect(new Set(theirs).size).toBe(5);

    vi.stubEnv('SLIPWAY_TEST_PORTS', RANGE);
    vi.resetModules();
    const { freePort } = await import('./test-ports.ts');
    const ours = [await freePort(), await freePort(), await freePort()];
    expect(new Set(ours).size).toBe(3);
    expect(ours.filter((p) => theirs.includes(p))).toEqual([]);
    // The range is used up while the other process lives.
    await expect(freePort()).rejects.toThrow(/no free port in 19890-19897/);

    other.stdin!.write('bye\n');
    await new Promise((resolve) => other.once('exit', resolve));
    // Its reservations go with it.
    const after = await freePort();
    expect(theirs).toContain(after);
    vi.unstubAllEnvs();
  });
});
