// Rolling deploy under load: a real server, router and 3 instances of the example
// service; a bounded client sends traffic throughout v1 → v2 → rollback cycles.
// Prints requests sent, failed and latency percentiles per deploy.
//
//   node --import tsx bench/rolling-bench.ts [--cycles 3] [--concurrency 16]

import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { percentile, startTraffic } from '../src/cli/traffic.ts';
import { freePort, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type ServiceOptions } from '../test/support/harness.ts';

const { values } = parseArgs({ options: { cycles: { type: 'string', default: '3' }, concurrency: { type: 'string', default: '16' } } });
const cycles = Number(values.cycles);
const concurrency = Number(values.concurrency);

const work = scratchDir('slipway-bench-');
const app = join(work, 'hello');
const dataDir = join(work, '.slipway');
const port = await freePort();
const url = `http://127.0.0.1:${port}/`;
const service: ServiceOptions = { envs: { production: { instances: 3, port, batch: 1, maxUnavailable: 0 } }, health: { interval: '250ms', healthyThreshold: 2 } };
writeService(app, { ...service, version: '1.0.0' });
const server = await startServerProcess(dataDir);
const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir, timeoutMs: 120_000 });

try {
  const first = await cli('deploy', 'production');
  if (first.code !== 0) throw new Error(first.stdout + first.stderr);
  console.log(`rolling deploy bench: 3 instances, batch 1, max_unavailable 0, ${concurrency} concurrent clients through the router`);
  console.log('deploy                 duration   sent     failed   rps      p50 ms   p99 ms   max ms');
  const totals = { sent: 0, failed: 0 };
  for (let c = 0; c < cycles; c++) {
    for (const [label, action] of [
      [`v1 → v2 (cycle ${c + 1})`, async () => { writeService(app, { ...service, version: `2.0.${c}` }); return cli('deploy', 'production'); }],
      [`rollback (cycle ${c + 1})`, async () => cli('rollback', 'production')],
    ] as const) {
      const traffic = startTraffic({ url, concurrency, maxDurationMs: 120_000, maxRequests: 2_000_000 });
      await new Promise((r) => setTimeout(r, 500));
      const t0 = performance.now();
      const r = await action();
      const took = performance.now() - t0;
      await new Promise((res) => setTimeout(res, 500));
      const s = await traffic.stop();
      if (r.code !== 0) throw new Error(`${label} failed: ${r.stdout}${r.stderr}`);
      totals.sent += s.sent;
      totals.failed += s.failed;
      const row = [label.padEnd(22), `${(took / 1000).toFixed(1)}s`.padEnd(10), String(s.sent).padEnd(8), String(s.failed).padEnd(8),
        String(Math.round(s.sent / (s.durationMs / 1000))).padEnd(8), percentile(s.latenciesMs, 0.5).toFixed(2).padEnd(8),
        percentile(s.latenciesMs, 0.99).toFixed(2).padEnd(8), percentile(s.latenciesMs, 1).toFixed(1)];
      console.log(row.join(' '));
      if (s.failed) console.log('  errors:', JSON.stringify(s.errors), 'statuses:', JSON.stringify(s.byStatus));
    }
  }
  console.log(`total: requests sent ${totals.sent}, failed ${totals.failed}`);
} finally {
  await shutdownEverything(server.url, dataDir);
}
