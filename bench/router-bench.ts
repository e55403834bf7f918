// Router throughput against a direct connection and against nginx, on this machine.
//
//   node --import tsx bench/router-bench.ts [--duration 10] [--connections 50] [--rounds 3]
//                                           [--warmup 3] [--only direct,router,nginx,floor,tcp]
//                                           [--workers N] [--syscalls 4] [--help]
//
// Three upstream processes answer a small body with keep-alive. Load comes from
// autocannon in its own process (so it does not share the bench's event loop), on
// 127.0.0.1 only, for a bounded time. The router runs as the real detached process
// with two releases weighted 50/50 over the three upstreams, metrics on; its CPU is
// the keeper's and its workers' (docs/router.md).
//
// The targets run in turn, round after round, and the summary is the median: on a
// small shared machine one 10 s run can be off by 30% from the next. CPU per request
// (the proxy's processes' user + system time over the requests served) moves much
// less than requests/s there. With --syscalls, each proxy then serves one more,
// untimed load under `strace -c` (bench/lib/syscall-count.ts), for its system calls
// per request.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureRouter, type RouterClient } from '../src/router/router-client.ts';
import { childPids, cpuMicros } from './lib/proc-cpu.ts';
import { hasNginx, startNginx, NGINX_BIN, type RunningNginx } from './lib/nginx.ts';
import { countSyscalls, hasStrace, STRACE_BIN } from './lib/syscall-count.ts';
import { freePort, startUpstream } from './lib/bench-processes.ts';

interface LoadResult {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
  total: number;
}

interface Sample extends LoadResult {
  cpuUsPerRequest: number | null;
  /** The rest of the machine's work per request: autocannon, and the three upstreams. */
  loadCpuUsPerRequest: number;
  upstreamCpuUsPerRequest: number;
}

/** User + system CPU time of this process's children that have exited and been waited for (cutime + cstime; autocannon's, once it ended), in microseconds. */
function reapedChildrenCpuMicros(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[13]) + Number(fields[14])) * 1_000_000) / 100; // USER_HZ ticks
}

/** A target under test: its URL and the processes whose CPU counts as "the proxy". */
interface Target {
  name: string;
  url: string;
  cpuPids: () => number[];
  samples: Sample[];
}

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    only: { type: 'string', default: 'direct,router,nginx' },
    warmup: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    workers: { type: 'string' },
    'nginx-workers': { type: 'string', default: '1' },
    syscalls: { type: 'string', default: '0' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(`Router throughput and CPU per request, against a direct connection and nginx.

  --duration S      seconds of load per target per round (default 10)
  --connections N   autocannon connections (default 50)
  --rounds N        rounds; the summary is their median (default 3)
  --warmup S        seconds of load per target before the rounds (default 3)
  --only LIST       targets, of direct,router,nginx,floor,tcp (default direct,router,nginx);
                    floor: node:http + undici alone (bench/lib/floor-proxy.ts), the
                    least a proxy built like the router costs; tcp: bytes piped per
                    connection with no HTTP (bench/lib/tcp-pipe.ts), the least any
                    Node proxy costs
  --workers N       the router's worker processes (default: the router's own default)
  --nginx-workers N nginx's worker_processes, a number or auto (one per core, its usual
                    production setting; default 1)
  --syscalls S      after the rounds, S seconds of load on each proxy under strace -c,
                    for system calls per request (default 0: off; needs ${STRACE_BIN})
  --help            this text`);
  process.exit(0);
}
const durationS = Number(args.duration);
const connections = Number(args.connections);
const warmupS = Number(args.warmup);
const rounds = Number(args.rounds);
const wanted = new Set(args.only.split(','));
const routerWorkers = args.workers === undefined ? undefined : Number(args.workers);
const syscallSeconds = Number(args.syscalls);
const nginxWorkers = args['nginx-workers'] === 'auto' ? 'auto' : Number(args['nginx-workers']);
if (nginxWorkers !== 'auto' && (!Number.isInteger(nginxWorkers) || nginxWorkers < 1)) {
  console.error(`router-bench: --nginx-workers must be a whole number of at least 1, or auto; got "${args['nginx-workers']}"`);
  process.exit(2);
}

const require = createRequire(import.meta.url);
const AUTOCANNON = require.resolve('autocannon/autocannon.js');
const TSX = require.resolve('tsx');
const FLOOR_MAIN = fileURLToPath(new URL('./lib/floor-proxy.ts', import.meta.url));
const TCP_MAIN = fileURLToPath(new URL('./lib/tcp-pipe.ts', import.meta.url));

/** A one-process proxy of bench/lib (`main`: floor-proxy.ts or tcp-pipe.ts) in front of the upstreams on `ports`. */
function startFloorProxy(ports: number[], main = FLOOR_MAIN): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, main, ...ports.map(String)], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout!.once('data', (d: Buffer) => resolve({ child, port: Number(d.toString().trim()) }));
    child.on('error', reject);
  });
}

function runAutocannon(url: string, seconds: number): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [AUTOCANNON, '-c', String(connections), '-d', String(seconds), '-j', url], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', () => {
      try {
        const r = JSON.parse(out.trim().split('\n').pop()!) as {
          requests: { total: number };
          latency: { p50: number; p99: number };
          errors: number;
          timeouts: number;
          non2xx: number;
          duration: number;
        };
        resolve({
          rps: r.requests.total / r.duration,
          p50Ms: r.latency.p50,
          p99Ms: r.latency.p99,
          errors: r.errors + r.timeouts,
          non2xx: r.non2xx,
          total: r.requests.total,
        });
      } catch (e) {
        reject(new Error(`autocannon gave no JSON result: ${String(e)}\n${out}`));
      }
    });
  });
}

/** One measured run: load for `durationS`, and the CPU the proxy processes used meanwhile. */
/**
 * One measured run: load for `durationS`, and the CPU the proxy processes used
 * meanwhile; also autocannon's (it has exited and been waited for by then) and the
 * upstreams': on two cores all of them share, they bound what any proxy can reach.
 */
async function measure(t: Target, upstreamPids: number[]): Promise<void> {
  const pids = t.cpuPids();
  const sum = (ps: number[]): number => ps.reduce((s, p) => s + cpuMicros(p), 0);
  const before = sum(pids);
  const upstreamBefore = sum(upstreamPids);
  const loadBefore = reapedChildrenCpuMicros();
  const load = await runAutocannon(t.url, durationS);
  const after = sum(pids);
  const n = Math.max(1, load.total);
  const cpuUsPerRequest = pids.length > 0 && load.total > 0 ? (after - before) / load.total : null;
  const upstreamCpuUsPerRequest = (sum(upstreamPids) - upstreamBefore) / n;
  const loadCpuUsPerRequest = (reapedChildrenCpuMicros() - loadBefore) / n;
  t.samples.push({ ...load, cpuUsPerRequest, loadCpuUsPerRequest, upstreamCpuUsPerRequest });
  console.log(
    `  ${t.name.padEnd(32)} ${load.rps.toFixed(0).padStart(7)} req/s  ${cpuUsPerRequest === null ? '-' : cpuUsPerRequest.toFixed(1)} µs CPU/req` +
      `  (autocannon ${loadCpuUsPerRequest.toFixed(1)}, upstreams ${upstreamCpuUsPerRequest.toFixed(1)})`,
  );
}

async function startRouterTarget(dir: string, upstreamPorts: number[]): Promise<{ target: Target; router: RouterClient }> {
  const router = await ensureRouter({ stateDir: join(dir, 'router'), workers: routerWorkers });
  // Two releases over the same three upstreams (ids differ), so each upstream gets a third of the load, as with nginx.
  const backends = ['r1', 'r2'].flatMap((release) =>
    upstreamPorts.map((p, i) => ({ id: `${release}-u${i + 1}`, release, url: `http://127.0.0.1:${p}` })),
  );
  const answer = await router.putRoutes({
    version: 1,
    environments: { bench: { listen: '127.0.0.1:0', backends, weights: { r1: 50, r2: 50 } } },
  });
  const address = answer.listeners.bench?.address;
  if (address === undefined) throw new Error(`router did not listen: ${JSON.stringify(answer)}`);
  return { router, target: { name: `slipway router (50/50${routerWorkers === undefined ? '' : `, ${routerWorkers}w`})`, url: `http://${address}/`, cpuPids: () => [router.pid, ...childPids(router.pid)], samples: [] } };
}

async function printRouterShares(router: RouterClient): Promise<void> {
  const stats = await router.getStats();
  const releases = Object.entries(stats.environments.bench ?? {});
  const counted = releases.reduce((s, [, r]) => s + r.requests, 0);
  const shares = releases.map(([r, s]) => `${r}=${((100 * s.requests) / counted).toFixed(1)}%`).join(' ');
  console.log(`router counted ${counted} requests; shares ${shares}; inflight now ${JSON.stringify(Object.fromEntries(Object.entries(stats.backends).map(([id, b]) => [id, b.inflight])))}`);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function printSummary(targets: Target[]): void {
  const fmt = (n: number | null, d = 0): string => (n === null || Number.isNaN(n) ? '-' : n.toFixed(d));
  console.log(`\nmedian of ${rounds} round(s)            req/s    p50 ms  p99 ms  errors  non2xx  CPU µs/req: proxy  autocannon  upstreams`);
  for (const t of targets) {
    const cpu = t.samples.map((s) => s.cpuUsPerRequest).filter((c): c is number => c !== null);
    console.log(
      `${t.name.padEnd(32)} ${fmt(median(t.samples.map((s) => s.rps))).padStart(7)}  ${fmt(median(t.samples.map((s) => s.p50Ms)), 1).padStart(6)}  ${fmt(median(t.samples.map((s) => s.p99Ms)), 1).padStart(6)}  ${String(t.samples.reduce((n, s) => n + s.errors, 0)).padStart(6)}  ${String(t.samples.reduce((n, s) => n + s.non2xx, 0)).padStart(6)}  ${fmt(cpu.length ? median(cpu) : null, 1).padStart(17)}  ${fmt(median(t.samples.map((s) => s.loadCpuUsPerRequest)), 1).padStart(10)}  ${fmt(median(t.samples.map((s) => s.upstreamCpuUsPerRequest)), 1).padStart(9)}`,
    );
  }
  const router = targets.find((t) => t.name.startsWith('slipway'));
  const nginx = targets.find((t) => t.name.startsWith('nginx'));
  if (router && nginx) {
    // Per-round ratios compare runs made seconds apart, under the same background load.
    const perRound = router.samples.map((s, i) => s.rps / nginx.samples[i]!.rps);
    const cpuRatio = median(router.samples.map((s) => s.cpuUsPerRequest ?? NaN)) / median(nginx.samples.map((s) => s.cpuUsPerRequest ?? NaN));
    console.log(`\nrouter / nginx requests/s: ${median(perRound).toFixed(2)}x (median of per-round ratios ${perRound.map((r) => r.toFixed(2)).join(', ')}); CPU per request: ${fmt(cpuRatio, 2)}x`);
  }
}

/** System calls per request of each proxy (not the direct target: that is the upstream itself), from an untimed run under strace. */
async function printSyscalls(targets: Target[]): Promise<void> {
  if (!hasStrace()) {
    console.log(`\nsystem calls skipped: ${STRACE_BIN} is missing (install it with \`apt-get install -y strace\`)`);
    return;
  }
  console.log(`\nsystem calls per request (${syscallSeconds} s under strace -c -f; slowed, so untimed)`);
  for (const t of targets) {
    if (t.name.startsWith('direct')) continue;
    const counted = await countSyscalls(t.cpuPids(), async () => (await runAutocannon(t.url, syscallSeconds)).total);
    const top = counted.byCall.filter(([, n]) => n >= 0.01).map(([name, n]) => `${name} ${n.toFixed(2)}`).join(', ');
    console.log(`  ${t.name.padEnd(32)} ${counted.perRequest.toFixed(2).padStart(6)}  (${top})`);
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-router-bench-'));
  const upstreams = await Promise.all(['u1', 'u2', 'u3'].map(startUpstream));
  const ports = upstreams.map((u) => u.port);
  console.log(`upstreams on ${ports.join(', ')}; ${connections} connections, ${durationS} s per target per round, ${rounds} round(s); load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${cpus().length} CPUs`);
  const targets: Target[] = [];
  let router: RouterClient | null = null;
  let nginx: RunningNginx | null = null;
  let floor: ChildProcess | null = null;
  let tcp: ChildProcess | null = null;
  try {
    if (wanted.has('direct')) targets.push({ name: 'direct to one upstream', url: `http://127.0.0.1:${ports[0]}/`, cpuPids: () => [upstreams[0]!.child.pid!], samples: [] });
    if (wanted.has('router')) {
      const r = await startRouterTarget(dir, ports);
      router = r.router;
      targets.push(r.target);
    }
    if (wanted.has('floor')) {
      // Not by default: it is for telling slipway's own per-request cost from node:http's and undici's.
      const f = await startFloorProxy(ports);
      floor = f.child;
      targets.push({ name: 'floor: node:http + undici only', url: `http://127.0.0.1:${f.port}/`, cpuPids: () => [f.child.pid!], samples: [] });
    }
    if (wanted.has('tcp')) {
      const t = await startFloorProxy(ports, TCP_MAIN);
      tcp = t.child;
      targets.push({ name: 'tcp: bytes piped, no HTTP', url: `http://127.0.0.1:${t.port}/`, cpuPids: () => [t.child.pid!], samples: [] });
    }
    if (wanted.has('nginx')) {
      if (hasNginx()) {
        nginx = await startNginx({ dir: join(dir, 'nginx'), port: await freePort(), upstreamPorts: ports, workers: nginxWorkers });
        const n = nginx;
        targets.push({ name: `nginx (${nginxWorkers === 'auto' ? 'worker_processes auto' : `${nginxWorkers} worker${nginxWorkers === 1 ? '' : 's'}`}, keepalive 64)`, url: n.url, cpuPids: () => [n.pid, ...childPids(n.pid)], samples: [] });
      } else {
        console.log(`nginx skipped: ${NGINX_BIN} is missing (install it with \`apt-get install -y nginx\`)`);
      }
    }
    // Warm up each target once (JIT, connection pools), then alternate targets round by round.
    for (const t of targets) if (warmupS > 0) await runAutocannon(t.url, warmupS);
    for (let round = 1; round <= rounds; round++) {
      console.log(`round ${round}`);
      for (const t of targets) await measure(t, upstreams.map((u) => u.child.pid!));
    }
    if (router) await printRouterShares(router);
    printSummary(targets);
    if (syscallSeconds > 0) await printSyscalls(targets);
  } finally {
    if (router) await router.shutdown().catch(() => process.kill(-router!.pid, 'SIGKILL'));
    if (nginx) await nginx.stop();
    floor?.kill('SIGTERM');
    tcp?.kill('SIGTERM');
    for (const u of upstreams) u.child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
