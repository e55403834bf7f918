// What reading the PROXY protocol costs the router (proxy.proxy_protocol), on this
// machine, 127.0.0.1 only, bounded in time:
//
//   node --import tsx bench/proxy-protocol-bench.ts [--duration 5] [--concurrency 20] [--connections 50] [--rounds 3]
//
// 1. Fresh connections: each client loop opens a connection, sends (a PROXY header
//    and) `GET /` with Connection: close, reads the answer to the close. Three
//    listeners of one router, same backend: without proxy_protocol (no header), with
//    v1 (a v1 header), with v2 (a v2 header). Prints connections/s and the router's
//    CPU (keeper and workers) per connection: the header is read once per connection.
// 2. Kept-alive connections through a real HAProxy in TCP mode (when installed):
//    autocannon through a frontend without send-proxy to the plain listener, and
//    through one with send-proxy-v2 to the v2 listener: requests/s and router CPU per
//    request, where the header should cost nothing (it is read once, then the
//    socket is as any other).
// Figures are medians over the rounds (targets in turn, each round starting with the
// next), after one warm-up round that is printed but not counted (JIT, pools).

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_PROXY_SETTINGS } from '../src/router/proxy-settings.ts';
import { V2_SIGNATURE } from '../src/router/proxy-protocol.ts';
import { ensureRouter } from '../src/router/router-client.ts';
import type { RouteTable } from '../src/router/route-table.ts';
import { startHaproxy, type Haproxy } from '../test/support/haproxy.ts';
import { freePort, startUpstream } from './lib/bench-processes.ts';
import { treeCpuMicros } from './lib/proc-cpu.ts';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '20' },
    connections: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '3' },
  },
});
const durationMs = Number(args.duration) * 1000;
const concurrency = Number(args.concurrency);
const rounds = Number(args.rounds);
const AUTOCANNON = join(createRequire(import.meta.url).resolve('autocannon/package.json'), '..', 'autocannon.js');

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const V1_HEADER = Buffer.from('PROXY TCP4 203.0.113.7 127.0.0.1 40000 80\r\n');
const V2_HEADER = (() => {
  const b = Buffer.alloc(28);
  V2_SIGNATURE.copy(b, 0);
  b[12] = 0x21;
  b[13] = 0x11;
  b.writeUInt16BE(12, 14);
  Buffer.from([203, 0, 113, 7, 127, 0, 0, 1]).copy(b, 16);
  b.writeUInt16BE(40000, 24);
  b.writeUInt16BE(80, 26);
  return b;
})();
const REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n');

/** One connection: header + request, answered and closed; true when the answer was a 200. */
function oneConnection(port: number, header: Buffer | null): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let head = '';
    socket.on('connect', () => socket.write(header === null ? REQUEST : Buffer.concat([header, REQUEST])));
    socket.on('data', (c: Buffer) => {
      if (head.length < 16) head += c.toString('latin1', 0, 16);
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve(head.startsWith('HTTP/1.1 200')));
  });
}

const routerCpu = treeCpuMicros;

async function freshConnections(port: number, header: Buffer | null, keeper: number): Promise<{ perSecond: number; cpuUs: number; failed: number }> {
  const stopAt = Date.now() + durationMs;
  let ok = 0;
  let failed = 0;
  const cpuBefore = routerCpu(keeper);
  const startedAt = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (Date.now() < stopAt) {
      if (await oneConnection(port, header)) ok++;
      else failed++;
    }
  }));
  const seconds = (performance.now() - startedAt) / 1000;
  return { perSecond: ok / seconds, cpuUs: (routerCpu(keeper) - cpuBefore) / Math.max(ok, 1), failed };
}

function autocannon(port: number): Promise<{ rps: number; total: number; errors: number; non2xx: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [AUTOCANNON, '-j', '-c', args.connections!, '-d', String(durationMs / 1000), `http://127.0.0.1:${port}/`], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', reject);
    child.on('exit', () => {
      const r = JSON.parse(out) as { requests: { average: number; total: number }; errors: number; non2xx: number };
      resolve({ rps: r.requests.average, total: r.requests.total, errors: r.errors, non2xx: r.non2xx });
    });
  });
}

function hasHaproxy(): boolean {
  try {
    execFileSync('haproxy', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const stateDir = mkdtempSync(join(tmpdir(), 'slipway-pp-bench-'));
  const upstream = await startUpstream('u1');
  const router = await ensureRouter({ stateDir });
  const ports = { off: await freePort(), v1: await freePort(), v2: await freePort() };
  const env = (port: number, id: string, mode: 'v1' | 'v2' | null) => ({
    listen: `127.0.0.1:${port}`, backends: [{ id, release: 'r1', url: `http://127.0.0.1:${upstream.port}` }], weights: { r1: 100 },
    proxy: { ...DEFAULT_PROXY_SETTINGS, trustForwarded: ['127.0.0.0/8'], ...(mode === null ? {} : { proxyProtocol: mode }) },
  });
  const table: RouteTable = { version: 1, environments: { off: env(ports.off, 'b-off', null), v1: env(ports.v1, 'b-v1', 'v1'), v2: env(ports.v2, 'b-v2', 'v2') } };
  await router.putRoutes(table);
  let haproxy: Haproxy | null = null;
  try {
    console.log(`load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${cpus().length} cores`);
    console.log(`fresh connections: ${concurrency} client loops, ${durationMs / 1000} s per target, ${rounds} round(s)`);
    const fresh = [
      { name: 'no proxy_protocol, no header', port: ports.off, header: null, samples: [] as { perSecond: number; cpuUs: number; failed: number }[] },
      { name: 'proxy_protocol: v1, v1 header', port: ports.v1, header: V1_HEADER, samples: [] as { perSecond: number; cpuUs: number; failed: number }[] },
      { name: 'proxy_protocol: v2, v2 header', port: ports.v2, header: V2_HEADER, samples: [] as { perSecond: number; cpuUs: number; failed: number }[] },
    ];
    for (let round = 0; round <= rounds; round++) {
      for (let i = 0; i < fresh.length; i++) {
        const t = fresh[(round + i) % fresh.length]!;
        const s = await freshConnections(t.port, t.header, router.pid);
        if (round > 0) t.samples.push(s);
        console.log(`  ${round === 0 ? '(warm-up) ' : ''}${t.name.padEnd(32)} ${s.perSecond.toFixed(0).padStart(6)} conn/s  ${s.cpuUs.toFixed(0).padStart(5)} µs router CPU/conn  failed ${s.failed}`);
      }
    }
    console.log('\nmedian                             conn/s  router CPU µs/conn  failed');
    for (const t of fresh) console.log(`  ${t.name.padEnd(32)} ${median(t.samples.map((s) => s.perSecond)).toFixed(0).padStart(6)}  ${median(t.samples.map((s) => s.cpuUs)).toFixed(0).padStart(18)}  ${t.samples.reduce((a, s) => a + s.failed, 0)}`);

    if (!hasHaproxy()) {
      console.log('\nhaproxy is not installed (apt-get install haproxy): kept-alive part skipped');
      return;
    }
    const lb = { plain: await freePort(), v2: await freePort() };
    haproxy = await startHaproxy(stateDir, [{ port: lb.plain, to: ports.off, send: null }, { port: lb.v2, to: ports.v2, send: 'send-proxy-v2' }]);
    console.log(`\nkept-alive through haproxy (mode tcp): autocannon -c ${args.connections}, ${durationMs / 1000} s per target`);
    const kept = [
      { name: 'haproxy, no header', port: lb.plain, samples: [] as { rps: number; cpuUs: number; bad: number }[] },
      { name: 'haproxy send-proxy-v2', port: lb.v2, samples: [] as { rps: number; cpuUs: number; bad: number }[] },
    ];
    for (let round = 0; round <= rounds; round++) {
      for (let i = 0; i < kept.length; i++) {
        const t = kept[(round + i) % kept.length]!;
        const before = routerCpu(router.pid);
        const r = await autocannon(t.port);
        const cpuUs = (routerCpu(router.pid) - before) / Math.max(r.total, 1);
        if (round > 0) t.samples.push({ rps: r.rps, cpuUs, bad: r.errors + r.non2xx });
        console.log(`  ${round === 0 ? '(warm-up) ' : ''}${t.name.padEnd(32)} ${r.rps.toFixed(0).padStart(6)} req/s  ${cpuUs.toFixed(1).padStart(5)} µs router CPU/req  errors+non2xx ${r.errors + r.non2xx}`);
      }
    }
    console.log('\nmedian                             req/s  router CPU µs/req');
    for (const t of kept) console.log(`  ${t.name.padEnd(32)} ${median(t.samples.map((s) => s.rps)).toFixed(0).padStart(6)}  ${median(t.samples.map((s) => s.cpuUs)).toFixed(1).padStart(17)}`);
  } finally {
    await haproxy?.stop();
    await router.shutdown(10_000).catch(() => {});
    try {
      process.kill(-router.pid, 'SIGKILL');
    } catch {
      // gone
    }
    upstream.child.kill('SIGKILL');
    rmSync(stateDir, { recursive: true, force: true });
  }
}

await main();
