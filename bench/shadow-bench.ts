// What shadow traffic costs users and the router: p50/p99 latency users see with a
// shadow step copying 20% of requests versus none, and the router's CPU per copied
// request (each copy is two more requests, to the new release and a second stable
// backend, two captures and two diffs).
//
//   node --import tsx bench/shadow-bench.ts [--duration 8] [--rounds 3] [--concurrency 8] [--percent 20] [--rate 1000]
//
// The router runs as the real detached process. Three upstream processes answer a
// small JSON document (an id, a price, a timestamp, a random id): two of the stable
// release, one of the new (weight 0). Load comes from this process at a fixed rate
// (`--rate` requests/s over `concurrency` keep-alive connections; 0: as fast as they
// go), timed with performance.now() per request, so sub-millisecond differences show
// (autocannon rounds to whole ms). A fixed rate below saturation is what users see:
// at saturation on a 2-core machine the copies' extra work shows as queueing instead
// (run with --rate 0 to see the throughput cost). The two
// conditions alternate round by round on the same router; the summary is the median.
// Target: under 1 ms p99 added.

import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent } from 'undici';
import { ensureRouter, type RouterClient } from '../src/router/router-client.ts';
import type { EnvRoutes } from '../src/router/route-table.ts';
import { treeCpuMicros } from './lib/proc-cpu.ts';
import { median, pacedLoad, quantile, startJsonUpstream } from './lib/paced-json-load.ts';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '8' },
    percent: { type: 'string', default: '20' },
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
  cpuUs: number;
  /** Copies the router compared or skipped during the run. */
  copies: number;
  compared: number;
  skipped: number;
}


function load(url: string, agent: Agent): Promise<{ latencies: number[]; failed: number }> {
  return pacedLoad({ url, agent, concurrency, ratePerS, durationMs, path: (k) => `/api/items/${k % 50}` });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-shadow-bench-'));
  const ups = await Promise.all([startJsonUpstream(), startJsonUpstream(), startJsonUpstream()]);
  const router: RouterClient = await ensureRouter({ stateDir: join(dir, 'router') });
  const agent = new Agent({ connections: concurrency });
  console.log(`router pid ${router.pid}; ${ratePerS > 0 ? `${ratePerS} req/s over ` : ''}${concurrency} connections, ${durationMs / 1000} s per condition per round, ${rounds} round(s), shadow ${percent}%; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${cpus().length} CPUs`);
  const base: EnvRoutes = {
    listen: '127.0.0.1:0',
    backends: [
      { id: 's1', release: '1', url: `http://127.0.0.1:${ups[0]!.port}` },
      { id: 's2', release: '1', url: `http://127.0.0.1:${ups[1]!.port}` },
      { id: 'n1', release: '2', url: `http://127.0.0.1:${ups[2]!.port}` },
    ],
    weights: { 1: 100, 2: 0 },
  };
  let version = 0;
  const put = async (routes: EnvRoutes) => {
    const a = await router.putRoutes({ version: ++version, environments: { bench: routes } });
    const address = a.listeners.bench?.address;
    if (!address) throw new Error(`router did not listen: ${JSON.stringify(a)}`);
    return `http://${address}`;
  };
  const runs: Record<'off' | 'on', Run[]> = { off: [], on: [] };
  try {
    let url = await put(base);
    await load(url, agent); // warm-up: JIT, pools
    for (let round = 1; round <= rounds; round++) {
      for (const cond of ['off', 'on'] as const) {
        const run = `bench:${round}`;
        url = await put(cond === 'on'
          ? { ...base, shadow: { run, stable: '1', candidate: '2', percent, methods: ['GET', 'HEAD'], paths: ['/api/*'], ignore: [], headers: ['content-type'], maxInFlight: 32, maxBodyBytes: 1024 * 1024 } }
          : base);
        const cpu0 = treeCpuMicros(router.pid);
        const r = await load(url, agent);
        // Copies still in flight finish before the CPU is read, so each run pays for its own.
        await new Promise((res) => setTimeout(res, 300));
        const cpu1 = treeCpuMicros(router.pid);
        const stats = await router.getStats();
        const s = cond === 'on' ? stats.shadow?.bench : undefined;
        const skipped = s ? s.skipped.inflight + s.skipped.bodyTooLarge + s.skipped.failed + s.skipped.noBackend : 0;
        const sorted = r.latencies.sort((a, b) => a - b);
        const result: Run = { requests: sorted.length, failed: r.failed, p50Ms: quantile(sorted, 0.5), p99Ms: quantile(sorted, 0.99), cpuUs: cpu1 - cpu0, copies: (s?.compared ?? 0) + skipped, compared: s?.compared ?? 0, skipped };
        runs[cond].push(result);
        console.log(`  round ${round} shadow ${cond.padEnd(3)} ${String(result.requests).padStart(7)} req  p50 ${result.p50Ms.toFixed(3)} ms  p99 ${result.p99Ms.toFixed(3)} ms  failed ${result.failed}  router CPU ${(result.cpuUs / result.requests).toFixed(1)} µs/req${cond === 'on' ? `  copies compared ${result.compared}, skipped ${result.skipped}` : ''}`);
      }
    }
    const off = runs.off;
    const on = runs.on;
    const p50Added = median(on.map((r, i) => r.p50Ms - off[i]!.p50Ms));
    const p99Added = median(on.map((r, i) => r.p99Ms - off[i]!.p99Ms));
    // CPU per copy: what the shadow run used beyond the same number of requests at the plain run's rate.
    const perCopy = median(on.map((r, i) => (r.cpuUs - (off[i]!.cpuUs / off[i]!.requests) * r.requests) / Math.max(1, r.copies)));
    console.log('\nmedian over rounds            p50 ms   p99 ms   router CPU µs/req');
    console.log(`no shadow                   ${median(off.map((r) => r.p50Ms)).toFixed(3).padStart(7)}  ${median(off.map((r) => r.p99Ms)).toFixed(3).padStart(7)}  ${median(off.map((r) => r.cpuUs / r.requests)).toFixed(1).padStart(8)}`);
    console.log(`shadow ${String(percent).padStart(3)}%                 ${median(on.map((r) => r.p50Ms)).toFixed(3).padStart(7)}  ${median(on.map((r) => r.p99Ms)).toFixed(3).padStart(7)}  ${median(on.map((r) => r.cpuUs / r.requests)).toFixed(1).padStart(8)}`);
    console.log(`\nadded for users: p50 ${p50Added.toFixed(3)} ms, p99 ${p99Added.toFixed(3)} ms (target: p99 under 1 ms) — ${p99Added < 1 ? 'met' : 'NOT met'}`);
    console.log(`router CPU per copied request: ${perCopy.toFixed(1)} µs (two extra requests, captures and diffs); failed user requests: ${[...off, ...on].reduce((n, r) => n + r.failed, 0)}`);
  } finally {
    await agent.close();
    await router.shutdown().catch(() => process.kill(-router.pid, 'SIGKILL'));
    for (const u of ups) u.child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
