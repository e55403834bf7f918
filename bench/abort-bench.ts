// How fast an abort takes traffic off a canary, and a blue-green switch-back takes
// it off the new colour, under load: from the command being sent (and accepted)
// to the start of the last request that the new release served. 20 runs each.
//
//   node --import tsx bench/abort-bench.ts [--runs 20]

import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import { apiFetch, freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServiceOptions } from '../test/support/harness.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '20' }, concurrency: { type: 'string', default: '16' }, pause: { type: 'string', default: '0' } } });
const runs = Number(values.runs);
const concurrency = Number(values.concurrency);
/** Pause between two requests of one client: 0 saturates the router, a few ms gives a steady load. */
const pauseMs = Number(values.pause);

interface Sample {
  startedAt: number;
  version: string;
}

/** Load that records when each request started and which version answered it. */
function load(url: string) {
  const agent = new Agent({ connections: concurrency });
  const samples: Sample[] = [];
  let stopping = false;
  let failed = 0;
  const workers = Array.from({ length: concurrency }, async () => {
    while (!stopping) {
      const startedAt = performance.now();
      try {
        const res = await request(url, { dispatcher: agent });
        const body = (await res.body.json()) as { version: string };
        if (res.statusCode !== 200) failed++;
        samples.push({ startedAt, version: body.version });
      } catch {
        failed++;
      }
      if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
    }
  });
  return {
    samples,
    stop: async () => {
      stopping = true;
      await Promise.all(workers);
      await agent.close();
      return failed;
    },
  };
}

function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, max: s.at(-1)!, min: s[0]! };
}

const work = scratchDir('slipway-abort-bench-');
const app = join(work, 'hello');
const dataDir = join(work, '.slipway');
const [canaryPort, bgPort] = [await freePort(), await freePort()];
const service: ServiceOptions = {
  envs: {
    canary: { instances: 2, port: canaryPort, strategyYaml: 'type: canary\nsteps:\n  - weight: 50\n  - pause: {}' },
    bluegreen: { instances: 2, port: bgPort, strategyYaml: 'type: blue-green\nscale_down_delay: 10m' },
  },
};
writeService(app, { ...service, version: '1.0.0' });
const server = await startServerProcess(dataDir);
const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir, timeoutMs: 120_000 });
const status = (env: string) => getJson<EnvironmentStatus>(`${server.url}/api/environments/${env}`);

async function measure(env: string, port: number, waitFor_: string, action: 'abort' | 'rollback') {
  const fromSend: number[] = [];
  const acceptMs: number[] = [];
  let rps = 0;
  const fromAccept: number[] = [];
  let failedTotal = 0;
  for (let i = 0; i < runs; i++) {
    writeService(app, { ...service, version: `2.0.${i}` });
    const d = await cli('deploy', env, '--detach');
    if (d.code !== 0) throw new Error(d.stderr);
    await waitFor(`${env} at ${waitFor_}`, async () => (await status(env)).rollout?.current === waitFor_, 60_000);
    const l = load(`http://127.0.0.1:${port}/`);
    await new Promise((r) => setTimeout(r, 300));
    const sentAt = performance.now();
    const res = await apiFetch(`${server.url}/api/environments/${env}/${action}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    const acceptedAt = performance.now();
    if (!res.ok) throw new Error(await res.text());
    await new Promise((r) => setTimeout(r, 300));
    acceptMs.push(acceptedAt - sentAt);
    failedTotal += await l.stop();
    rps += l.samples.length / ((performance.now() - sentAt + 600) / 1000) / runs;
    const lastNew = Math.max(...l.samples.filter((s) => s.version !== '1.0.0').map((s) => s.startedAt));
    fromSend.push(Math.max(0, lastNew - sentAt));
    fromAccept.push(Math.max(0, lastNew - acceptedAt));
    await waitFor(`${env} to settle`, async () => (await status(env)).rollout === null, 60_000);
  }
  const a = stats(fromSend);
  const b = stats(fromAccept);
  const c = stats(acceptMs);
  console.log(`${(env === 'canary' ? 'canary abort' : 'blue-green switch-back').padEnd(24)} runs ${runs}, ~${Math.round(rps)} req/s`);
  console.log(`  command sent → last new-release request: median ${a.median.toFixed(1)} ms, max ${a.max.toFixed(1)} ms`);
  console.log(`  command accepted (HTTP answer) → last new-release request: median ${b.median.toFixed(1)} ms, max ${b.max.toFixed(1)} ms`);
  console.log(`  the command's own round trip (decision saved, router switched): median ${c.median.toFixed(1)} ms, max ${c.max.toFixed(1)} ms`);
  console.log(`  failed requests: ${failedTotal}`);
}

try {
  for (const env of ['canary', 'bluegreen']) {
    const r = await cli('deploy', env);
    if (r.code !== 0) throw new Error(r.stdout + r.stderr);
  }
  console.log(`time until the new release serves no new request (start of the last request it answered), ${concurrency} clients, ${pauseMs} ms pause:`);
  await measure('canary', canaryPort, 'pause until promoted', 'abort');
  await measure('bluegreen', bgPort, 'pause 600s', 'rollback');
} finally {
  await shutdownEverything(server.url, dataDir);
}
