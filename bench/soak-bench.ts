// The soak: one production environment under steady traffic, deployed every
// --every seconds for --minutes, by rolling, canary and blue-green in turn, with
// about one rollout in four aborted at a random moment. What a long-lived server
// must not do is fail requests, grow its memory or leak descriptors, so the bench
// prints, per rollout and at the end: requests sent and failed, the server's and
// router's RSS and open descriptors (after the first deploy and after the last),
// the heap each keeps after a full garbage collection (at the end of the first
// rollout and at the end: bench/lib/heap-after-gc.ts, which briefly opens the
// inspector on 127.0.0.1:9229), and the SQLite file's size.
//
//   node --import tsx bench/soak-bench.ts [--minutes 60] [--every 120] [--concurrency 2] [--seed 1] [--heap-snapshots DIR]
//
// Traffic goes to 127.0.0.1 only, at a steady rate (each worker pauses 20 ms
// between requests), for the bench's duration and no longer.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startTraffic } from '../src/cli/traffic.ts';
import { heapAfterGc, writeHeapSnapshot, type HeapFigures } from './lib/heap-after-gc.ts';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import { freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, writeService } from '../test/support/harness.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '60' },
    every: { type: 'string', default: '120' },
    // A directory: heap snapshots of the server after the first rollout and at the end, to compare in DevTools.
    'heap-snapshots': { type: 'string' },
    concurrency: { type: 'string', default: '2' },
    seed: { type: 'string', default: '1' },
  },
});
const minutes = Number(values.minutes);
const everyMs = Number(values.every) * 1000;
const concurrency = Number(values.concurrency);
if (!(minutes > 0) || !(everyMs >= 10_000) || !(concurrency >= 1 && concurrency <= 16)) {
  console.error('usage: soak-bench.ts [--minutes M>0] [--every SECONDS>=10] [--concurrency 1..16] [--seed N]');
  process.exit(2);
}

// A small deterministic generator, so a run can be repeated with the same aborts.
let state = Number(values.seed) >>> 0 || 1;
const random = (): number => {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) / 2 ** 32;
};

interface ProcessFigures { rssMb: number; fds: number }

function figures(pid: number): ProcessFigures {
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { rssMb: rss ? Number(rss[1]) / 1024 : 0, fds: readdirSync(`/proc/${pid}/fd`).length };
}

function sqliteMb(dataDir: string): number {
  let bytes = 0;
  for (const f of ['state.db', 'state.db-wal', 'state.db-shm']) {
    try {
      bytes += statSync(join(dataDir, f)).size;
    } catch {
      // no WAL at this moment
    }
  }
  return bytes / 1024 / 1024;
}

function routerPid(dataDir: string): number {
  return (JSON.parse(readFileSync(join(dataDir, 'router', 'router.json'), 'utf8')) as { pid: number }).pid;
}

/** The router's keeper and the workers it forked (docs/router.md): the router is all of them. */
function routerPids(dataDir: string): number[] {
  const keeper = routerPid(dataDir);
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Field 4 of /proc/<pid>/stat is the parent's pid; the command name (field 2) may hold spaces.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === keeper) children.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return [keeper, ...children.filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('router-'))];
}

function routerFigures(dataDir: string): ProcessFigures {
  const all = routerPids(dataDir).map(figures);
  return { rssMb: all.reduce((a, f) => a + f.rssMb, 0), fds: all.reduce((a, f) => a + f.fds, 0) };
}

async function routerHeap(dataDir: string): Promise<HeapFigures> {
  const sum: HeapFigures = { heapUsedMb: 0, heapTotalMb: 0, externalMb: 0, rssMb: 0 };
  for (const pid of routerPids(dataDir)) {
    const h = await heapAfterGc(pid);
    for (const k of Object.keys(sum) as (keyof HeapFigures)[]) sum[k] += h[k];
  }
  return sum;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const work = scratchDir('slipway-soak-');
const app = join(work, 'hello');
const dataDir = join(work, '.slipway');
const port = await freePort();
// Pauses long enough that an abort sent a few seconds in finds the rollout under way.
const STRATEGIES: Record<string, string> = {
  rolling: 'type: rolling\nbatch: 1',
  canary: 'type: canary\nsteps:\n  - weight: 25\n  - pause: 8s\n  - weight: 50\n  - pause: 8s',
  'blue-green': 'type: blue-green\nauto_promote: true\nscale_down_delay: 5s',
};
const strategies = Object.keys(STRATEGIES);
const envFor = (strategy: string) => ({ instances: 3, port, strategyYaml: STRATEGIES[strategy]! });
writeService(app, { version: '1.0.0', envs: { production: envFor('rolling') } });
const server = await startServerProcess(dataDir);
const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir, timeoutMs: 180_000 });

async function rolloutOver(): Promise<string> {
  const deadline = Date.now() + 170_000;
  while (Date.now() < deadline) {
    const s = await getJson<EnvironmentStatus>(`${server.url}/api/environments/production`);
    if (s.rollout === null) return s.lastRollout?.phase ?? 'unknown';
    await sleep(500);
  }
  return 'timed out';
}

const first = await cli('deploy', 'production');
if (first.code !== 0) throw new Error(`first deploy failed: ${first.stdout}${first.stderr}`);
const routerAtStart = routerPid(dataDir);
const start = { server: figures(server.pid), router: routerFigures(dataDir), sqliteMb: sqliteMb(dataDir) };
const fmt = (f: ProcessFigures) => `${f.rssMb.toFixed(1)} MB, ${f.fds} fds`;
console.log(`soak: ${minutes} min, a deploy every ${everyMs / 1000} s (${strategies.join(', ')} in turn, ~1 in 4 sent an abort), ${concurrency} clients`);
console.log(`start: server ${fmt(start.server)}; router ${fmt(start.router)}; sqlite ${start.sqliteMb.toFixed(2)} MB`);
console.log('#    strategy    aborted  phase        sent      failed  server             router');

// Bounded by time, not by count (the load helper stops at 200,000 requests by default).
const traffic = startTraffic({ url: `http://127.0.0.1:${port}/`, concurrency, pauseMs: 20, maxRequests: Number.MAX_SAFE_INTEGER, maxDurationMs: minutes * 60_000 + 240_000 });
const end = Date.now() + minutes * 60_000;
let n = 0;
const phases: Record<string, number> = {};
// Growth is measured from the end of the first rollout: by then the server and router have warmed up.
let warm: { server: ProcessFigures; router: ProcessFigures } = start;
// RSS swings by 10-20% with each garbage collection, so two single readings say little: from
// the end of the first rollout it is sampled every 5 s, and the median of the first tenth of the
// samples is set against the median of the last tenth. What a leak grows is the heap that
// survives a full collection: read at the end of the first rollout and at the end.
const samples: { server: number; router: number }[] = [];
let sampler: NodeJS.Timeout | null = null;
const startSampling = () => setInterval(() => {
  try {
    samples.push({ server: figures(server.pid).rssMb, router: routerFigures(dataDir).rssMb });
  } catch {
    // a process between two lives (a router replaced): no sample this time
  }
}, 5_000);
let warmHeap: { server: HeapFigures; router: HeapFigures } | null = null;
while (Date.now() < end) {
  const began = Date.now();
  const strategy = strategies[n % strategies.length]!;
  n++;
  writeService(app, { version: `${n + 1}.0.0`, envs: { production: envFor(strategy) } });
  const before = traffic.stats();
  const started = await cli('deploy', 'production', '--detach');
  if (started.code !== 0) throw new Error(`deploy ${n} was refused: ${started.stdout}${started.stderr}`);
  let abort = random() < 0.25 ? 'sent' : 'no';
  if (abort === 'sent') {
    await sleep(500 + random() * 2_500);
    const r = await cli('abort', 'production');
    abort = r.code === 0 ? 'yes' : 'too late';
  }
  const phase = await rolloutOver();
  phases[phase] = (phases[phase] ?? 0) + 1;
  const after = traffic.stats();
  if (n === 1) {
    warm = { server: figures(server.pid), router: routerFigures(dataDir) };
    warmHeap = { server: await heapAfterGc(server.pid), router: await routerHeap(dataDir) };
    if (values['heap-snapshots'] !== undefined) await writeHeapSnapshot(server.pid, join(values['heap-snapshots'], 'server-first.heapsnapshot'));
    sampler = startSampling();
  }
  console.log(
    `${String(n).padEnd(4)} ${strategy.padEnd(11)} ${abort.padEnd(8)} ${phase.padEnd(12)} ${String(after.sent - before.sent).padEnd(9)} ${String(after.failed - before.failed).padEnd(7)} ${fmt(figures(server.pid)).padEnd(18)} ${fmt(routerFigures(dataDir))}`,
  );
  const wait = everyMs - (Date.now() - began);
  if (wait > 0 && Date.now() + wait < end) await sleep(wait);
  else if (Date.now() + wait >= end) break;
}
const totals = await traffic.stop();
if (sampler) clearInterval(sampler);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const tenth = Math.max(1, Math.floor(samples.length / 10));
const early = { server: median(samples.slice(0, tenth).map((x) => x.server)), router: median(samples.slice(0, tenth).map((x) => x.router)) };
const late = { server: median(samples.slice(-tenth).map((x) => x.server)), router: median(samples.slice(-tenth).map((x) => x.router)) };
const last = { server: figures(server.pid), router: routerFigures(dataDir), sqliteMb: sqliteMb(dataDir) };
const lastHeap = { server: await heapAfterGc(server.pid), router: await routerHeap(dataDir) };
if (values['heap-snapshots'] !== undefined) {
  await writeHeapSnapshot(server.pid, join(values['heap-snapshots'], 'server-end.heapsnapshot'));
  console.log(`heap snapshots of the server: ${values['heap-snapshots']}/server-first.heapsnapshot and server-end.heapsnapshot`);
}
const growth = (a: number, b: number) => `${(((b - a) / a) * 100).toFixed(1)}%`;
console.log(`end: server ${fmt(last.server)}; router ${fmt(last.router)}${routerPid(dataDir) === routerAtStart ? '' : ' (a different router process!)'}; sqlite ${last.sqliteMb.toFixed(2)} MB`);
console.log(`rollouts: ${n} (${Object.entries(phases).map(([p, c]) => `${c} ${p}`).join(', ')})`);
console.log(`requests: ${totals.sent} sent, ${totals.failed} failed${totals.failed > 0 ? ` ${JSON.stringify(totals.errors)}` : ''}`);
console.log(`RSS, median of the first vs the last tenth of ${samples.length} samples: server ${early.server.toFixed(1)} -> ${late.server.toFixed(1)} MB (${growth(early.server, late.server)}), router ${early.router.toFixed(1)} -> ${late.router.toFixed(1)} MB (${growth(early.router, late.router)})`);
// A leak climbs from slice to slice; warming up (code compiled, five minutes of router
// samples kept, pages of node's binary first touched) is a step early on, then flat.
const slice = Math.max(1, Math.round(samples.length / 6));
const slices: string[] = [];
for (let i = 0; i < samples.length; i += slice) {
  const part = samples.slice(i, i + slice);
  slices.push(`${median(part.map((x) => x.server)).toFixed(1)}/${median(part.map((x) => x.router)).toFixed(1)}`);
}
console.log(`RSS medians (server/router MB) over ${slices.length} equal slices of the run after the first rollout: ${slices.join(', ')}`);
console.log(`RSS growth since the first rollout: server ${growth(warm.server.rssMb, last.server.rssMb)}, router ${growth(warm.router.rssMb, last.router.rssMb)}; descriptors: server ${warm.server.fds} -> ${last.server.fds}, router ${warm.router.fds} -> ${last.router.fds}`);
if (warmHeap) {
  const w = warmHeap;
  console.log(`heap after a full GC, first rollout -> end: server ${w.server.heapUsedMb.toFixed(1)} -> ${lastHeap.server.heapUsedMb.toFixed(1)} MB (${growth(w.server.heapUsedMb, lastHeap.server.heapUsedMb)}), router ${w.router.heapUsedMb.toFixed(1)} -> ${lastHeap.router.heapUsedMb.toFixed(1)} MB (${growth(w.router.heapUsedMb, lastHeap.router.heapUsedMb)})`);
  // Where RSS went when the live heap did not grow: heap V8 holds but does not use, or memory outside it.
  const held = (h: HeapFigures) => `heap held ${h.heapTotalMb.toFixed(1)} MB, external ${h.externalMb.toFixed(1)} MB, RSS ${h.rssMb.toFixed(1)} MB`;
  console.log(`after a full GC, first rollout -> end: server ${held(w.server)} -> ${held(lastHeap.server)}; router ${held(w.router)} -> ${held(lastHeap.router)}`);
}
await shutdownEverything(server.url, dataDir);
process.exit(0);
