// Automated analysis on real processes and traffic: bad canaries stop themselves,
// a good one is promoted on evidence, and a Prometheus query (against a real
// Prometheus) can fail a rollout. A regression during the watch window is shown on
// real processes once per strategy in watch-window.test.ts, and its rules (restarts,
// timings of minutes) on virtual time in engine-virtual-time.test.ts.

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTraffic, type Traffic } from '../src/cli/traffic.ts';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import { allowInPolicy, LOOPBACK_ALLOWED } from './support/admin-policy.ts';
import { freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type EnvOptions, type ServerProcess } from './support/harness.ts';
import { startPrometheus, type RunningPrometheus } from './support/prometheus.ts';

describe('automated analysis and rollback', () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let traffic: Traffic | null = null;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir, timeoutMs: 120_000 });
  const status = (env: string) => getJson<EnvironmentStatus>(`${server.url}/api/environments/${env}`);

  beforeAll(async () => {
    work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    server = await startServerProcess(dataDir);
  });

  afterAll(async () => {
    await traffic?.stop();
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  /** Deploys v1 of a one-environment service, then returns a deploy of v2 with `v2` changes, under load (`load`: other than the default). */
  async function setUp(env: EnvOptions, v2: Partial<EnvOptions>, load: { concurrency: number; pauseMs: number } = { concurrency: 8, pauseMs: 2 }) {
    writeService(app, { version: '1.0.0', envs: { [`e${env.port}`]: env } });
    const first = await cli('deploy', `e${env.port}`);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    writeService(app, { version: '2.0.0', envs: { [`e${env.port}`]: { ...env, ...v2 } } });
    traffic = startTraffic({ url: `http://127.0.0.1:${env.port}/`, ...load, maxDurationMs: 120_000 });
    return `e${env.port}`;
  }

  it('a canary answering 30% errors at 10% weight is rolled back by itself, within seconds', async () => {
    const port = await freePort();
    const env = await setUp({ instances: 3, port, strategyYaml: 'type: canary\nsteps:\n  - weight: 10\n  - pause: 5m' }, { config: { FAIL_RATE: '0.3' } });
    const t0 = Date.now();
    const r = await cli('deploy', env);
    const took = Date.now() - t0;
    const s = await traffic!.stop();
    traffic = null;
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/automatic rollback: analysis failed: .*error_rate/);
    expect(r.stdout).toMatch(/rollout failed/);
    expect(took).toBeLessThan(60_000);
    const st = await status(env);
    expect(st.stable?.number).toBe(1);
    expect(Object.keys(st.weights)).toEqual(['1']);
    // The canary's share of errors was small: most users never saw one.
    expect(s.failed / s.sent).toBeLessThan(0.03);
  });

  it('a canary whose p99 latency is 5x stable is rolled back', async () => {
    const port = await freePort();
    const env = await setUp(
      { instances: 2, port, strategyYaml: 'type: canary\nsteps:\n  - weight: 50\n  - pause: 5m', extraYaml: 'analysis:\n  latency: { p99: { max_ratio_to_stable: 2 } }' },
      // Far above what a loaded CI machine adds to stable's own p99 (tens of ms at load 12).
      { config: { LATENCY_MS: '150' } },
      // The ratio is judged once the canary has 1000 samples. A client waits 150 ms on
      // every canary answer, so the rate is bounded by the clients, not the CPU: 8 clients
      // (~100 requests/s in all) took ~20 s to get there; 32 that pause 20 ms between
      // requests (~330/s, far below what the CPU could serve, so stable's p99 stays low) ~6 s.
      { concurrency: 32, pauseMs: 20 },
    );
    const r = await cli('deploy', env);
    await traffic!.stop();
    traffic = null;
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout, r.stdout + r.stderr).toMatch(/analysis failed: .*latency\.p99/);
    expect((await status(env)).stable?.number).toBe(1);
  }, 120_000);

  it('a good canary passes its analysis step on evidence and is promoted', async () => {
    const port = await freePort();
    const env = await setUp(
      { instances: 2, port, strategyYaml: 'type: canary\nsteps:\n  - weight: 30\n  - analysis: { deadline: 90s, inconclusive: fail }\n  - weight: 100' },
      {},
    );
    const r = await cli('deploy', env);
    const s = await traffic!.stop();
    traffic = null;
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/analysis \(step 3\): pass/);
    expect(s.failed).toBe(0);
    expect((await status(env)).stable?.number).toBe(2);
  });

  describe('with a real Prometheus', () => {
    let prometheus: RunningPrometheus | null = null;
    let promUrl = '';

    beforeAll(async () => {
      prometheus = await startPrometheus({ metrics: () => '# TYPE hello_error_ratio gauge\nhello_error_ratio 0.3\n', ready: 'hello_error_ratio' });
      promUrl = prometheus?.url ?? '';
      // A Prometheus on loopback is the admin's to allow (issue 19): refused by default.
      await allowInPolicy({ cwd: work, dataDir, yaml: LOOPBACK_ALLOWED });
    }, 90_000);

    afterAll(() => prometheus?.stop());

    it('a Prometheus query check over its limit fails the rollout', async (ctx) => {
      if (!prometheus) ctx.skip();
      const port = await freePort();
      const env = await setUp(
        { instances: 2, port, strategyYaml: `type: canary\nsteps:\n  - weight: 20\n  - analysis:\n      prometheus:\n        - { name: errors, query: hello_error_ratio, max: 0.1, url: "${promUrl}" }\n      deadline: 60s\n      inconclusive: fail` },
        {},
      );
      const r = await cli('deploy', env);
      await traffic!.stop();
      traffic = null;
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/analysis failed: errors: 0\.3 is above the max 0\.1 \(hello_error_ratio\)/);
      expect((await status(env)).stable?.number).toBe(1);
    });
  });
});
