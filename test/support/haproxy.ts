// A real HAProxy (Debian's `haproxy`) in TCP mode in front of slipway's router, as a
// TCP load balancer would be: each frontend on 127.0.0.1 passes its connections
// to one router address, with a PROXY protocol header (send-proxy: version 1,
// send-proxy-v2: version 2; send-proxy-v2-ssl adds the SSL TLV saying whether the
// client came over TLS). A frontend given a PEM file ends the client's TLS itself,
// as a TLS-terminating balancer does. Started in the foreground, ended by its pid.

import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

export interface HaproxyFrontend {
  /** Port haproxy listens on (127.0.0.1). */
  port: number;
  /** Router port it passes connections to (127.0.0.1). */
  to: number;
  /** null: no header (a plain TCP balancer). */
  send: 'send-proxy' | 'send-proxy-v2' | 'send-proxy-v2-ssl' | null;
  /** A PEM file holding a certificate and its key: the frontend ends the client's TLS with it. */
  tlsPemFile?: string;
}

export interface Haproxy {
  process: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export async function startHaproxy(dir: string, frontends: HaproxyFrontend[]): Promise<Haproxy> {
  const lines = [
    'global',
    '  maxconn 2000',
    'defaults',
    '  mode tcp',
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
  ];
  frontends.forEach((f, i) => {
    lines.push(`frontend f${i}`, `  bind 127.0.0.1:${f.port}${f.tlsPemFile === undefined ? '' : ` ssl crt ${f.tlsPemFile}`}`, `  default_backend b${i}`);
    lines.push(`backend b${i}`, `  server router 127.0.0.1:${f.to}${f.send === null ? '' : ` ${f.send}`}`);
  });
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, `${lines.join('\n')}\n`);
  const child = spawn('haproxy', ['-f', file, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let spawnError: Error | null = null;
  child.once('error', (e) => (spawnError = e));
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  const deadline = Date.now() + 10_000;
  for (const f of frontends) {
    while (!(await isListening(f.port))) {
      if (spawnError !== null) throw new Error(`cannot run haproxy (Debian: apt-get install haproxy; .ci/run installs it): ${(spawnError as Error).message}`);
      if (child.exitCode !== null || Date.now() > deadline) {
        await stop();
        throw new Error(`haproxy did not listen on 127.0.0.1:${f.port}: ${output}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { process: child, output: () => output, stop };
}

function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
