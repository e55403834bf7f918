// A release that goes bad after its rollout, on real processes under steady load:
// production runs 2 instances of v1; v2 is deployed by the default rolling
// strategy, answers normally, and from FAIL_AFTER_MS after it starts answers 500 to
// FAIL_RATE of requests. The watch window must roll it back by itself. Prints, per
// run: how long the rollout took, the time from the first failed request to the
// last (errors start → rollback complete), and the share of all requests that
// failed over the run (load before, during and after).
//
// The load runs 5 s before the deploy and --run-seconds after it starts (70 s, as in
// the report that found the watch never deciding).
//
//   node --import tsx bench/watch-bench.ts [--runs 3] [--fail-rate 0.5] [--fail-after 4000] [--concurrency 8] [--pause 2] [--run-seconds 70]

import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startTraffic } from '../src/cli/traffic.ts';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import { freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type EnvOptions } from '../test/support/harness.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' }, 'fail-rate': { type: 'string', default: '0.5' }, 'fail-after': { type: 'string', default: '4000' },
    concurrency: { type: 'string', default: '8' }, pause: { type: 'string', default: '2' }, 'run-seconds': { type: 'string', default: '70' },
  },
});
const runs = Number(values.runs);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const work = scratchDir('slipway-watch-');
const app = join(work, 'hello');
const dataDir = join(work, '.slipway');
const port = await freePort();
const env: EnvOptions = { instances: 2, port };
const server = await startServerProcess(dataDir);
const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir, timeoutMs: 180_000 });
const status = () => getJson<EnvironmentStatus>(`${server.url}/api/environments/production`);
const rows: { rolloutMs: number; badMs: number; share: number; sent: number; failed: number }[] = [];
try {
  console.log(`watch: 2 instances, default rolling; v2 answers 500 to ${values['fail-rate']} of requests from ${values['fail-after']} ms after it starts; ${values.concurrency} clients, ${values.pause} ms pauses`);
  for (let i = 0; i < runs; i++) {
    writeService(app, { version: `1.0.${i}`, envs: { production: env } });
    const good = await cli('deploy', 'production');
    if (good.code !== 0) throw new Error(good.stdout + good.stderr);
    const goodNumber = (await status()).stable!.number;
    const traffic = startTraffic({ url: `http://127.0.0.1:${port}/`, concurrency: Number(values.concurrency), pauseMs: Number(values.pause), maxDurationMs: 200_000, maxRequests: 5_000_000 });
    await sleep(5000); // v1 serves alone for a while, as production does between deploys
    writeService(app, { version: `2.0.${i}`, envs: { production: { ...env, config: { FAIL_RATE: values['fail-rate']!, FAIL_AFTER_MS: values['fail-after']! } } } });
    const t0 = Date.now();
    const bad = await cli('deploy', 'production');
    const rolloutMs = Date.now() - t0;
    if (bad.code !== 0) throw new Error(bad.stdout + bad.stderr);
    let s: EnvironmentStatus = await status();
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      s = await status();
      if (s.rollout === null && s.stable?.number === goodNumber && s.lastRollout?.kind === 'rollback') break;
      await sleep(200);
    }
    await sleep(Math.max(0, t0 + Number(values['run-seconds']) * 1000 - Date.now()));
    const t = await traffic.stop();
    if (s.stable?.number !== goodNumber) {
      console.log(`run ${i + 1}: NOT rolled back in 90 s; watch: ${JSON.stringify(s.watch)}; ${t.failed} of ${t.sent} failed`);
      continue;
    }
    const row = { rolloutMs, badMs: (t.lastFailureAt ?? 0) - (t.firstFailureAt ?? 0), share: t.failed / t.sent, sent: t.sent, failed: t.failed };
    rows.push(row);
    console.log(`run ${i + 1}: rollout ${(rolloutMs / 1000).toFixed(1)} s; errors start → last error ${(row.badMs / 1000).toFixed(2)} s; ` +
      `${t.sent} requests over ${(t.durationMs / 1000).toFixed(1)} s (${Math.round(t.sent / (t.durationMs / 1000))} req/s), ${t.failed} failed (${(row.share * 100).toFixed(2)}%); ` +
      `reason: ${s.watch?.reason ?? '?'} | baseline: ${s.watch?.baseline.description ?? '?'}`);
  }
  if (rows.length) {
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    console.log(`${rows.length} of ${runs} runs rolled back; errors start → last error: mean ${(mean(rows.map((r) => r.badMs)) / 1000).toFixed(2)} s, max ${(Math.max(...rows.map((r) => r.badMs)) / 1000).toFixed(2)} s; ` +
      `failed share: mean ${(mean(rows.map((r) => r.share)) * 100).toFixed(2)}%, max ${(Math.max(...rows.map((r) => r.share)) * 100).toFixed(2)}%`);
  } else {
    console.log(`0 of ${runs} runs rolled back`);
  }
} finally {
  await shutdownEverything(server.url, dataDir);
}
