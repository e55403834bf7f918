// What routing by host costs: requests/s through the router to one listener that 20
// environments share by host name, against one environment with one host, and one
// with no hosts: at all (the listener of its own, with no lookup), same backends.
//
//   node --import tsx bench/router-hosts-bench.ts [--duration 5] [--connections 50] [--rounds 3]
//                                                 [--warmup 2] [--hosts 20]
//
// Three upstream processes answer a small body with keep-alive; every environment's
// backends are those three (each environment its own backend ids, so its own
// pools, as separate services would have). Load comes from autocannon in its own
// process, on 127.0.0.1 only, for a bounded time; on the shared listener each
// connection cycles through the 20 Host names. The targets run in turn, round after
// round (each round starting with the next one), and the figures are medians (a
// small shared machine drifts from one run to the next); the ratio is the median of
// per-round ratios, runs made seconds apart.
// Target: 20 hosts at least 0.95x one host.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureRouter, type RouterClient } from '../src/router/router-client.ts';
import type { EnvRoute } from '../src/router/env-route.ts';
import { hostHeaderOf, HostRoutes, requestHost } from '../src/router/host-routes.ts';
import type { EnvRoutes, RouteTable } from '../src/router/route-table.ts';
import { cpuMicros } from './lib/proc-cpu.ts';
import { freePort, startUpstream } from './lib/bench-processes.ts';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '2' },
    hosts: { type: 'string', default: '20' },
  },
});
const durationS = Number(args.duration);
const connections = Number(args.connections);
const rounds = Number(args.rounds);
const warmupS = Number(args.warmup);
const hostCount = Number(args.hosts);

const require = createRequire(import.meta.url);
const AUTOCANNON = require.resolve('autocannon');

interface Sample {
  rps: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
  cpuUsPerRequest: number;
}

interface Target {
  name: string;
  url: string;
  /** Host headers, cycled by each connection; empty: autocannon's own (the address). */
  hosts: string[];
  samples: Sample[];
}

/** autocannon's programmatic API in a child process: the CLI takes one Host header, this cycles through several. */
const LOAD_SCRIPT = `
const autocannon = require(process.argv[1]);
const o = JSON.parse(process.argv[2]);
const requests = o.hosts.map((host) => ({ method: 'GET', path: '/', headers: { host } }));
autocannon({ url: o.url, connections: o.connections, duration: o.duration, ...(requests.length ? { requests } : {}) }, (err, r) => {
  if (err) { console.error(err); process.exit(1); }
  process.stdout.write(JSON.stringify({ total: r.requests.total, duration: r.duration, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx }) + '\\n');
});
`;

function runLoad(t: Target, seconds: number): Promise<Omit<Sample, 'cpuUsPerRequest'> & { total: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', LOAD_SCRIPT, AUTOCANNON, JSON.stringify({ url: t.url, connections, duration: seconds, hosts: t.hosts })], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      try {
        const r = JSON.parse(out.trim().split('\n').pop()!) as { total: number; duration: number; p99: number; errors: number; non2xx: number };
        resolve({ rps: r.total / r.duration, p99Ms: r.p99, errors: r.errors, non2xx: r.non2xx, total: r.total });
      } catch (e) {
        reject(new Error(`load gave no result (exit ${code}): ${String(e)}\n${out}`));
      }
    });
  });
}

/** One table: the no-hosts, one-host and shared listeners side by side in one router, all on the same three upstreams. */
async function routeTable(upstreamPorts: number[]): Promise<{ table: RouteTable; targets: Target[] }> {
  const [plainPort, onePort, sharedPort] = [await freePort(), await freePort(), await freePort()];
  const env = (name: string, listen: string, hosts?: string[]): EnvRoutes => ({
    listen,
    backends: upstreamPorts.map((p, i) => ({ id: `${name}-u${i + 1}`, release: 'r1', url: `http://127.0.0.1:${p}` })),
    weights: { r1: 100 },
    ...(hosts ? { hosts } : {}),
  });
  const shared = Array.from({ length: hostCount }, (_, i) => `h${i}.example.com`);
  const environments: RouteTable['environments'] = {
    plain: env('plain', `127.0.0.1:${plainPort}`),
    one: env('one', `127.0.0.1:${onePort}`, ['one.example.com']),
  };
  shared.forEach((host, i) => (environments[`h${i}`] = env(`h${i}`, `127.0.0.1:${sharedPort}`, [host])));
  return {
    table: { version: 1, environments },
    targets: [
      { name: 'no hosts (a listener of its own)', url: `http://127.0.0.1:${plainPort}/`, hosts: [], samples: [] },
      { name: '1 host', url: `http://127.0.0.1:${onePort}/`, hosts: ['one.example.com'], samples: [] },
      { name: `${hostCount} hosts on one listener`, url: `http://127.0.0.1:${sharedPort}/`, hosts: shared, samples: [] },
    ],
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function measure(t: Target, routerPid: number): Promise<void> {
  const before = cpuMicros(routerPid);
  const load = await runLoad(t, durationS);
  const cpuUsPerRequest = load.total > 0 ? (cpuMicros(routerPid) - before) / load.total : NaN;
  t.samples.push({ rps: load.rps, p99Ms: load.p99Ms, errors: load.errors, non2xx: load.non2xx, cpuUsPerRequest });
  console.log(`  ${t.name.padEnd(34)} ${load.rps.toFixed(0).padStart(7)} req/s  p99 ${load.p99Ms.toFixed(1)} ms  ${cpuUsPerRequest.toFixed(1)} µs router CPU/req  errors ${load.errors} non2xx ${load.non2xx}`);
}

function printSummary(targets: Target[], router: RouterStatsShape): void {
  console.log(`\nmedian of ${rounds} round(s)                  req/s  p99 ms  router CPU µs/req  errors  non2xx`);
  for (const t of targets) {
    console.log(
      `${t.name.padEnd(38)} ${median(t.samples.map((s) => s.rps)).toFixed(0).padStart(6)}  ${median(t.samples.map((s) => s.p99Ms)).toFixed(1).padStart(6)}  ${median(t.samples.map((s) => s.cpuUsPerRequest)).toFixed(1).padStart(17)}  ${String(t.samples.reduce((n, s) => n + s.errors, 0)).padStart(6)}  ${String(t.samples.reduce((n, s) => n + s.non2xx, 0)).padStart(6)}`,
    );
  }
  const [plain, one, shared] = targets as [Target, Target, Target];
  const ratio = (a: Target, b: Target) => a.samples.map((s, i) => s.rps / b.samples[i]!.rps);
  const vsOne = ratio(shared, one);
  const vsPlain = ratio(shared, plain);
  console.log(`\n${shared.name} / 1 host: ${median(vsOne).toFixed(3)}x requests/s (per round ${vsOne.map((r) => r.toFixed(3)).join(', ')}); target ≥ 0.95: ${median(vsOne) >= 0.95 ? 'met' : 'NOT met'}`);
  console.log(`${shared.name} / no hosts: ${median(vsPlain).toFixed(3)}x requests/s (per round ${vsPlain.map((r) => r.toFixed(3)).join(', ')})`);
  // CPU per request drifts less than requests/s when other processes share the cores.
  const cpu = (t: Target) => median(t.samples.map((x) => x.cpuUsPerRequest));
  console.log(`router CPU per request, ${shared.name} / 1 host: ${(cpu(shared) / cpu(one)).toFixed(3)}x (${cpu(shared).toFixed(1)} / ${cpu(one).toFixed(1)} µs)`);
  const spread = Object.entries(router.environments).filter(([env]) => /^h\d+$/.test(env)).map(([, r]) => r.r1?.requests ?? 0);
  if (spread.length > 0) console.log(`requests per shared environment: min ${Math.min(...spread)}, max ${Math.max(...spread)} (each host got its share)`);
}

type RouterStatsShape = Awaited<ReturnType<RouterClient['getStats']>>;

/**
 * The lookup alone, in this process: what a request on the shared listener pays
 * that one on a listener of its own does not (the Host header scan, its
 * normalisation, the map lookups), in ns, for exact names and for wildcards.
 */
function measureLookup(): void {
  const route = (name: string) => ({ name }) as EnvRoute;
  const exact = new HostRoutes(Array.from({ length: hostCount }, (_, i) => ({ route: route(`h${i}`), hosts: [`h${i}.example.com`], pathPrefix: null })));
  const wild = new HostRoutes(Array.from({ length: hostCount }, (_, i) => ({ route: route(`h${i}`), hosts: [`*.h${i}.example.com`], pathPrefix: null })));
  const raw = (host: string) => ['User-Agent', 'autocannon', 'Accept', '*/*', 'Host', host, 'Connection', 'keep-alive'];
  // The best of 5 runs of 1M lookups: the first ones pay for the JIT, later ones for whoever else shares the cores.
  const time = (routes: HostRoutes, headers: string[][]): number => {
    const n = 1_000_000;
    let best = Infinity;
    for (let run = 0; run < 5; run++) {
      let hits = 0;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) if (typeof routes.match(requestHost(hostHeaderOf(headers[i % headers.length]!)), '/') !== 'string') hits++;
      best = Math.min(best, Number(process.hrtime.bigint() - t0) / n);
      if (hits !== n) throw new Error(`lookup missed ${n - hits} times`);
    }
    return best;
  };
  const exactNs = time(exact, Array.from({ length: hostCount }, (_, i) => raw(`h${i}.example.com:8080`)));
  const wildNs = time(wild, Array.from({ length: hostCount }, (_, i) => raw(`app.h${i}.Example.com`)));
  console.log(`host lookup in process, ${hostCount} hosts: ${exactNs.toFixed(0)} ns per request by exact name, ${wildNs.toFixed(0)} ns by wildcard`);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-router-hosts-bench-'));
  const upstreams = await Promise.all(['u1', 'u2', 'u3'].map(startUpstream));
  let router: RouterClient | null = null;
  try {
    router = await ensureRouter({ stateDir: join(dir, 'router') });
    const { table, targets } = await routeTable(upstreams.map((u) => u.port));
    const answer = await router.putRoutes(table);
    const notListening = Object.entries(answer.listeners).filter(([, l]) => !l.listening);
    if (notListening.length > 0) throw new Error(`router did not listen: ${JSON.stringify(notListening)}`);
    measureLookup();
    console.log(`upstreams on ${upstreams.map((u) => u.port).join(', ')}; ${connections} connections, ${durationS} s per target per round, ${rounds} round(s); load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${cpus().length} CPUs`);
    for (const t of targets) if (warmupS > 0) await runLoad(t, warmupS);
    for (let round = 1; round <= rounds; round++) {
      console.log(`round ${round}`);
      // Each round starts with another target, so none always runs first (or right after the warm-up).
      for (let i = 0; i < targets.length; i++) await measure(targets[(round - 1 + i) % targets.length]!, router.pid);
    }
    printSummary(targets, await router.getStats());
  } finally {
    if (router) await router.shutdown().catch(() => process.kill(-router!.pid, 'SIGKILL'));
    for (const u of upstreams) u.child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
