// The router's keeper and workers under stress (docs/router.md), on this machine,
// 127.0.0.1 only, each part bounded in requests and in time:
//
//   node --import tsx bench/router-resilience-bench.ts [--requests 50000] [--connections 50]
//                                                      [--websockets 5000] [--only upgrade,kill,drain,memory]
//
// - upgrade: autocannon sends --requests through the router while POST /upgrade
//   replaces its workers halfway: requests failed (target 0).
// - kill:    the same load while one worker is killed with kill -9: requests failed
//   (target: only those in flight on it, at most --connections).
// - drain:   200 WebSockets open through the router, an upgrade with a 5 s drain:
//   WebSockets closed before the deadline (target 0), each still echoing after it.
// - memory:  --websockets idle WebSockets through the router: the RSS of the router's
//   processes (keeper and workers) grows by how much per connection (target <= 30 KB).

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect, type Socket } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { WebSocket } from 'undici';
import { ensureRouter, type RouterClient } from '../src/router/router-client.ts';
import { startWebSocketUpstream, type WebSocketUpstream } from '../src/router/test-websocket-upstream.ts';
import { childPids } from './lib/proc-cpu.ts';
import { freePort } from './lib/bench-processes.ts';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '50000' },
    connections: { type: 'string', default: '50' },
    websockets: { type: 'string', default: '5000' },
    only: { type: 'string', default: 'upgrade,kill,drain,memory' },
  },
});
const REQUESTS = Number(values.requests);
const CONNECTIONS = Number(values.connections);
const WEBSOCKETS = Number(values.websockets);
const ONLY = new Set(values.only!.split(','));
const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon/autocannon.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Load {
  total: number;
  errors: number;
  non2xx: number;
  seconds: number;
}

/** autocannon in its own process: `amount` requests, at most 120 s. */
function runAutocannon(url: string, amount: number): Promise<Load> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [AUTOCANNON, '-c', String(CONNECTIONS), '-a', String(amount), '-t', '10', '-j', ...(process.env.BENCH_DEBUG ? ['--debug'] : []), url], { stdio: ['ignore', 'pipe', process.env.BENCH_DEBUG ? 'inherit' : 'ignore'] });
    const timer = setTimeout(() => child.kill('SIGINT'), 120_000);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', () => {
      clearTimeout(timer);
      try {
        const r = JSON.parse(out.trim().split('\n').pop()!) as { requests: { total: number }; errors: number; timeouts: number; non2xx: number; duration: number };
        resolve({ total: r.requests.total, errors: r.errors + r.timeouts, non2xx: r.non2xx, seconds: r.duration });
      } catch (e) {
        reject(new Error(`autocannon gave no JSON result: ${String(e)}\n${out}`));
      }
    });
  });
}

function rssKb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** The router's workers (tsx may have an esbuild child of its own beside them). */
const workerPids = (keeper: number): number[] =>
  childPids(keeper).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('router-main');
    } catch {
      return false;
    }
  });

const routerRssKb = (router: RouterClient): number => [router.pid, ...workerPids(router.pid)].reduce((s, p) => s + rssKb(p), 0);

/** An idle WebSocket through the router, opened by hand (no client library's memory in the way). */
function openRawWebSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write(`GET / HTTP/1.1\r\nHost: bench\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    s.once('data', (d: Buffer) => (d.toString().startsWith('HTTP/1.1 101') ? resolve(s) : reject(new Error(d.toString().split('\r\n')[0]))));
    s.once('error', reject);
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-resilience-bench-'));
  const backends: WebSocketUpstream[] = [];
  for (const id of ['b1', 'b2']) backends.push(await startWebSocketUpstream(id));
  const port = await freePort();
  const router = await ensureRouter({ stateDir: join(dir, 'router') });
  await router.putRoutes({ version: 1, environments: { web: { listen: `127.0.0.1:${port}`, backends: backends.map((b) => ({ id: b.id, release: 'r1', url: b.url })), weights: { r1: 100 } } } });
  const url = `http://127.0.0.1:${port}/`;
  console.log(`load average at start: ${loadavg().map((l) => l.toFixed(2)).join(' ')}; router keeper ${router.pid}, workers ${workerPids(router.pid).join(', ')}`);
  try {
    // First, while the workers are fresh and no retiring worker is still finishing.
    if (ONLY.has('memory')) {
      await sleep(1_000);
      const before = routerRssKb(router);
      const sockets: Socket[] = [];
      for (let i = 0; i < WEBSOCKETS; i += 100) sockets.push(...(await Promise.all(Array.from({ length: Math.min(100, WEBSOCKETS - i) }, () => openRawWebSocket(port)))));
      await sleep(3_000);
      const after = routerRssKb(router);
      const open = backends.reduce((s, b) => s + b.open.size, 0);
      console.log(`memory: ${sockets.length} idle WebSockets through the router (${open} open at the backends): router RSS ${(before / 1024).toFixed(1)} MB → ${(after / 1024).toFixed(1)} MB, ${((after - before) / sockets.length).toFixed(1)} KB each (target <= 30 KB)`);
      for (const s of sockets) s.destroy();
    }
    if (ONLY.has('upgrade')) {
      const load = runAutocannon(url, REQUESTS);
      await sleep(3_000);
      const answer = await router.upgradeWorkers(10_000);
      const r = await load;
      console.log(`upgrade: ${r.errors + r.non2xx} of ${r.total} requests failed (${r.errors} errors, ${r.non2xx} non-2xx) in ${r.seconds} s; workers ${answer.retiring.join(', ')} → ${answer.serving.join(', ')} (target 0 of >= 50,000)`);
    }
    if (ONLY.has('kill')) {
      await sleep(1_000);
      const load = runAutocannon(url, REQUESTS);
      await sleep(3_000);
      const victim = workerPids(router.pid)[0]!;
      process.kill(victim, 'SIGKILL');
      const r = await load;
      console.log(`kill -9 of worker ${victim}: ${r.errors + r.non2xx} of ${r.total} requests failed (${r.errors} errors, ${r.non2xx} non-2xx) in ${r.seconds} s (target: only those in flight on it, <= ${CONNECTIONS} connections' worth)`);
      while (workerPids(router.pid).length < 2) await sleep(200);
    }
    if (ONLY.has('drain')) {
      const DRAIN_MS = 5_000;
      const sockets = await Promise.all(Array.from({ length: 200 }, () => openUndiciSocket(`ws://127.0.0.1:${port}/`)));
      const upgradedAt = Date.now();
      await router.upgradeWorkers(DRAIN_MS);
      await sleep(DRAIN_MS - 1_000);
      let echoing = 0;
      await Promise.all(sockets.map(async (s) => (await s.echoes()) && echoing++));
      const dropped = sockets.filter((s) => s.closedAt !== null && s.closedAt - upgradedAt < DRAIN_MS - 50).length;
      console.log(`drain: ${dropped} of ${sockets.length} WebSockets closed before the ${DRAIN_MS} ms drain deadline, ${echoing} still echoing at ${DRAIN_MS - 1_000} ms (target 0 dropped)`);
      await sleep(6_000);
      console.log(`drain: ${sockets.filter((s) => s.closedAt !== null).length} of them closed by the deadline + 5 s`);
    }
  } finally {
    await router.shutdown().catch(() => process.kill(-router.pid, 'SIGKILL'));
    await Promise.all(backends.map((b) => b.kill()));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function openUndiciSocket(url: string): Promise<{ closedAt: number | null; echoes(): Promise<boolean> }> {
  const ws = new WebSocket(url);
  const out = { closedAt: null as number | null, echoes: async () => false };
  ws.addEventListener('close', () => (out.closedAt = Date.now()));
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve(), { once: true });
    ws.addEventListener('error', () => reject(new Error('websocket failed to open')), { once: true });
  });
  out.echoes = () =>
    new Promise<boolean>((resolve) => {
      if (ws.readyState !== WebSocket.OPEN) return resolve(false);
      const timer = setTimeout(() => resolve(false), 2_000);
      ws.addEventListener('message', () => {
        clearTimeout(timer);
        resolve(true);
      }, { once: true });
      ws.send('ping');
    });
  return out;
}

await main();
