// What recording production's requests for replay costs users and the router: p50/p99
// latency users see with `record:` at --percent (100 by default: every request, the
// worst case) versus none, and the router's CPU per recorded request, workers and
// keeper together (a worker picks, anonymises and sends the line; the keeper appends
// it to the sample on disk).
//
//   node --import tsx bench/replay-record-bench.ts [--duration 6] [--rounds 3] [--concurrency 8] [--percent 100] [--rate 1000]
//
// The router runs as the real detached process (a keeper and 2 workers). Two upstream
// processes answer a small JSON document. Load comes from this process at a fixed rate
// over keep-alive connections, each request with a query carrying a token and an
// e-mail (anonymised) and an Accept header (kept), timed with performance.now(). The
// two conditions alternate round by round on the same router; the summary is the
// median of per-round differences.

import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent } from 'undici';
import { ensureRouter, type RouterClient } from '../src/router/router-client.ts';
import type { EnvRoutes } from '../src/router/route-table.ts';
import { childPids, cpuMicros, treeCpuMicros } from './lib/proc-cpu.ts';
import { median, pacedLoad, quantile, startJsonUpstream } from './lib/paced-json-load.ts';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '6' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '8' },
    percent: { type: 'string', default: '100' },
    rate: { type: 'string', default: '1000' },
  },
});
const durationMs = Number(args.duration) * 1000;
const rounds = Number(args.rounds);
const concurrency = Number(args.concurrency);
const percent = Number(args.percent);
const ratePerS = Number(args.rate);

interface Run {
  requests: number;
  failed: number;
  p50Ms: number;
  p99Ms: number;
  /** Keeper and workers. */
  cpuUs: number;
  keeperUs: number;
}

/** The keeper and its workers: the workers do the proxying and the recording. */
const routerCpu = treeCpuMicros;

function linesOnDisk(dir: string): number {
  let n = 0;
  for (const f of ['bench.jsonl', 'bench.1.jsonl']) {
    try {
      n += readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean).length;
    } catch {
      // not yet written
    }
  }
  return n;
}


function load(url: string, agent: Agent): Promise<{ latencies: number[]; failed: number }> {
  return pacedLoad({ url, agent, concurrency, ratePerS, durationMs, path: (k) => `/api/items/${k % 50}?access_token=tok-${k}&email=user${k}%40example.com&page=2`, headers: { accept: 'application/json', authorization: 'Bearer not-recorded' } });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-replay-bench-'));
  const replayDir = join(dir, 'router', 'replay');
  const ups = await Promise.all([startJsonUpstream(), startJsonUpstream()]);
  const router: RouterClient = await ensureRouter({ stateDir: join(dir, 'router') });
  const agent = new Agent({ connections: concurrency });
  console.log(`router pid ${router.pid} (workers ${childPids(router.pid).join(', ')}); ${ratePerS > 0 ? `${ratePerS} req/s over ` : ''}${concurrency} connections, ${durationMs / 1000} s per condition per round, ${rounds} round(s), record ${percent}%; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${cpus().length} CPUs`);
  const base: EnvRoutes = {
    listen: '127.0.0.1:0',
    backends: [
      { id: 's1', release: '1', url: `http://127.0.0.1:${ups[0]!.port}` },
      { id: 's2', release: '1', url: `http://127.0.0.1:${ups[1]!.port}` },
    ],
    weights: { 1: 100 },
  };
  let version = 0;
  const put = async (routes: EnvRoutes) => {
    const a = await router.putRoutes({ version: ++version, environments: { bench: routes } });
    const address = a.listeners.bench?.address;
    if (!address) throw new Error(`router did not listen: ${JSON.stringify(a)}`);
    return `http://${address}`;
  };
  const record = { percent, methods: ['GET', 'HEAD'], paths: ['/api/*'], headers: ['accept'], bodies: false, maxBodyBytes: 65536, anonymise: ['user[0-9]+'], sample: 200, maxBytes: 1024 * 1024 };
  const runs: Record<'off' | 'on', Run[]> = { off: [], on: [] };
  try {
    let url = await put(base);
    await load(url, agent); // warm-up: JIT, pools
    for (let round = 1; round <= rounds; round++) {
      for (const cond of ['off', 'on'] as const) {
        url = await put(cond === 'on' ? { ...base, record } : base);
        // Each round starts with an empty sample, so every line it writes is counted.
        rmSync(replayDir, { recursive: true, force: true });
        const cpu0 = routerCpu(router.pid);
        const keeper0 = cpuMicros(router.pid);
        const r = await load(url, agent);
        // The keeper appends every 200 ms: what the run recorded is on disk before the CPU is read.
        await new Promise((res) => setTimeout(res, 500));
        const cpu1 = routerCpu(router.pid);
        const keeper1 = cpuMicros(router.pid);
        const sorted = r.latencies.sort((a, b) => a - b);
        const result: Run = { requests: sorted.length, failed: r.failed, p50Ms: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99), cpuUs: cpu1 - cpu0, keeperUs: keeper1 - keeper0 };
        runs[cond].push(result);
        console.log(`  round ${round} record ${cond.padEnd(3)} ${String(result.requests).padStart(7)} req  p50 ${result.p50Ms.toFixed(3)} ms  p99 ${result.p99Ms.toFixed(3)} ms  failed ${result.failed}  router CPU ${(result.cpuUs / result.requests).toFixed(1)} µs/req (keeper ${(result.keeperUs / result.requests).toFixed(1)})`);
      }
    }
    // The rotation keeps only the newest: what the last round left shows the bound held.
    let bytes = 0;
    for (const f of ['bench.jsonl', 'bench.1.jsonl']) bytes += (() => { try { return statSync(join(replayDir, f)).size; } catch { return 0; } })();
    const off = runs.off;
    const on = runs.on;
    const p50Added = median(on.map((r, i) => r.p50Ms - off[i]!.p50Ms));
    const p99Added = median(on.map((r, i) => r.p99Ms - off[i]!.p99Ms));
    const recordedPerRound = (r: Run) => (r.requests * percent) / 100;
    const perRecorded = median(on.map((r, i) => (r.cpuUs - (off[i]!.cpuUs / off[i]!.requests) * r.requests) / Math.max(1, recordedPerRound(r))));
    const keeperPerRecorded = median(on.map((r, i) => (r.keeperUs - (off[i]!.keeperUs / off[i]!.requests) * r.requests) / Math.max(1, recordedPerRound(r))));
    console.log('\nmedian over rounds            p50 ms   p99 ms   router CPU µs/req');
    console.log(`no recording                ${median(off.map((r) => r.p50Ms)).toFixed(3).padStart(7)}  ${median(off.map((r) => r.p99Ms)).toFixed(3).padStart(7)}  ${median(off.map((r) => r.cpuUs / r.requests)).toFixed(1).padStart(8)}`);
    console.log(`record ${String(percent).padStart(3)}%                 ${median(on.map((r) => r.p50Ms)).toFixed(3).padStart(7)}  ${median(on.map((r) => r.p99Ms)).toFixed(3).padStart(7)}  ${median(on.map((r) => r.cpuUs / r.requests)).toFixed(1).padStart(8)}`);
    console.log(`\nadded for users: p50 ${p50Added.toFixed(3)} ms, p99 ${p99Added.toFixed(3)} ms`);
    console.log(`router CPU per recorded request: ${perRecorded.toFixed(1)} µs (of which the keeper's writing ${keeperPerRecorded.toFixed(1)} µs); sample on disk after the last round: ${linesOnDisk(replayDir)} lines, ${bytes} bytes (bound 200 lines, 1 MiB); failed user requests: ${[...off, ...on].reduce((n, r) => n + r.failed, 0)}`);
  } finally {
    await agent.close();
    await router.shutdown().catch(() => process.kill(-router.pid, 'SIGKILL'));
    for (const u of ups) u.child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
