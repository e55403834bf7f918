// A bad canary under steady load, on real processes: the canary answers errors at
// 10% weight and the analysis must stop it by itself. Prints, per run, the time
// from the canary's first traffic to the abort, and the share of all user
// requests that failed over the run (load before, during and after the canary).
//
//   node --import tsx bench/bad-canary-bench.ts [--runs 5] [--fail-rate 0.3] [--concurrency 4] [--pause 10]

import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startTraffic } from '../src/cli/traffic.ts';
import type { RolloutEventRecord } from '../src/core/records.ts';
import { freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type EnvOptions } from '../test/support/harness.ts';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, 'fail-rate': { type: 'string', default: '0.3' }, concurrency: { type: 'string', default: '4' }, pause: { type: 'string', default: '10' } },
});
const runs = Number(values.runs);

const work = scratchDir('slipway-badcanary-');
const app = join(work, 'hello');
const dataDir = join(work, '.slipway');
const port = await freePort();
const env: EnvOptions = { instances: 3, port, strategyYaml: 'type: canary\nsteps:\n  - weight: 10\n  - pause: 5m' };
writeService(app, { version: '1.0.0', envs: { production: env } });
const server = await startServerProcess(dataDir);
const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir, timeoutMs: 180_000 });
const rows: { toAbortMs: number; share: number; rps: number; canaryRequests: number }[] = [];
try {
  const first = await cli('deploy', 'production');
  if (first.code !== 0) throw new Error(first.stdout + first.stderr);
  console.log(`bad canary: FAIL_RATE ${values['fail-rate']} at 10% weight, ${values.concurrency} clients with ${values.pause} ms pauses`);
  for (let i = 0; i < runs; i++) {
    writeService(app, { version: `2.0.${i}`, envs: { production: { ...env, config: { FAIL_RATE: values['fail-rate']! } } } });
    const traffic = startTraffic({ url: `http://127.0.0.1:${port}/`, concurrency: Number(values.concurrency), pauseMs: Number(values.pause), maxDurationMs: 180_000 });
    await new Promise((r) => setTimeout(r, 3000));
    const r = await cli('deploy', 'production', '--json');
    await new Promise((res) => setTimeout(res, 3000));
    const s = await traffic.stop();
    const out = JSON.parse(r.stdout) as { rollout: { id: number; phase: string } };
    const { events } = await getJson<{ events: RolloutEventRecord[] }>(`${server.url}/api/rollouts/${out.rollout.id}/events`);
    const canaryStart = events.find((e) => /traffic .*10%/.test(e.message))?.ts;
    const abortAt = events.find((e) => e.message.startsWith('abort: all traffic back'))?.ts;
    if (canaryStart === undefined || abortAt === undefined) {
      console.log(`run ${i + 1}: not aborted (${out.rollout.phase}); events:`, events.map((e) => e.message).slice(-5));
      continue;
    }
    const versions = s.versions[`2.0.${i}`] ?? 0;
    const row = { toAbortMs: abortAt - canaryStart, share: s.failed / s.sent, rps: s.sent / (s.durationMs / 1000), canaryRequests: versions + s.failed };
    rows.push(row);
    console.log(`run ${i + 1}: canary traffic → abort ${(row.toAbortMs / 1000).toFixed(2)} s; ${s.sent} requests at ${Math.round(row.rps)} req/s over ${(s.durationMs / 1000).toFixed(1)} s, ${s.failed} failed (${(row.share * 100).toFixed(3)}%)`);
  }
  if (rows.length) {
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    console.log(`mean over ${rows.length} runs: time to abort ${(mean(rows.map((r) => r.toAbortMs)) / 1000).toFixed(2)} s, max ${(Math.max(...rows.map((r) => r.toAbortMs)) / 1000).toFixed(2)} s; failed share ${(mean(rows.map((r) => r.share)) * 100).toFixed(3)}%`);
  }
} finally {
  await shutdownEverything(server.url, dataDir);
}
