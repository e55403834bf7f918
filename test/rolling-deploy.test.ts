// The foundation, end to end: real server, router and instance processes, the real
// CLI, and a concurrent client counting every failed request.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTraffic } from '../src/cli/traffic.ts';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import { freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type ServerProcess, type ServiceOptions } from './support/harness.ts';

describe('rolling deploys on one machine', () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let service: ServiceOptions;
  let prodUrl: string;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir });
  const status = (env: string) => getJson<EnvironmentStatus>(`${server.url}/api/environments/${env}`);

  beforeAll(async () => {
    work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    const [staging, production] = [await freePort(), await freePort()];
    prodUrl = `http://127.0.0.1:${production}/`;
    service = {
      version: '1.0.0',
      envs: {
        staging: { instances: 2, port: staging, config: { GREETING: 'hi from staging' } },
        production: { instances: 3, port: production, batch: '34%', maxUnavailable: 0 },
      },
    };
    writeService(app, service);
    server = await startServerProcess(dataDir);
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('deploys v1 to staging and production, each with its own instances and config', async () => {
    // Each on its own listener, deployed side by side.
    const [a, b] = await Promise.all([cli('deploy', 'staging'), cli('deploy', 'production')]);
    expect(a.code, a.stdout + a.stderr).toBe(0);
    expect(a.stdout).toMatch(/rollout succeeded: hello\/staging#1 is now stable/);
    expect(b.code, b.stdout + b.stderr).toBe(0);
    const st = await status('staging');
    const pr = await status('production');
    expect(st.instances.filter((i) => i.state === 'ready')).toHaveLength(2);
    expect(pr.instances.filter((i) => i.state === 'ready')).toHaveLength(3);
    const stagingAnswer = await getJson<{ version: string; greeting: string }>(`http://${st.listen}/`);
    expect(stagingAnswer).toMatchObject({ version: '1.0.0', greeting: 'hi from staging' });
    expect(await getJson<{ greeting: string }>(prodUrl)).toMatchObject({ version: '1.0.0', greeting: 'hello' });
  });

  it('deploying the same artefact and config again changes nothing', async () => {
    const r = await cli('deploy', 'production');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/already runs this artefact and config as #1/);
  });

  it('rolls production from v1 to v2 under continuous load with 0 failed requests', async () => {
    const traffic = startTraffic({ url: prodUrl, concurrency: 8, maxDurationMs: 60_000, maxRequests: 100_000, pauseMs: 2 });
    await new Promise((r) => setTimeout(r, 500));
    writeService(app, { ...service, version: '2.0.0' });
    const r = await cli('deploy', 'production');
    await new Promise((r2) => setTimeout(r2, 500));
    const s = await traffic.stop();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(s.sent).toBeGreaterThan(1000);
    expect(s.failed, JSON.stringify({ errors: s.errors, byStatus: s.byStatus })).toBe(0);
    expect(s.versions['1.0.0']).toBeGreaterThan(0);
    expect(s.versions['2.0.0']).toBeGreaterThan(0);
    const pr = await status('production');
    expect(pr.stable?.number).toBe(2);
    expect(pr.instances.map((i) => `${i.release}:${i.state}`)).toEqual(['2:ready', '2:ready', '2:ready']);
  });

  it('rollback restores the previous release under load with 0 failed requests', async () => {
    const traffic = startTraffic({ url: prodUrl, concurrency: 8, maxDurationMs: 60_000, pauseMs: 2 });
    await new Promise((r) => setTimeout(r, 300));
    const r = await cli('rollback', 'production');
    await new Promise((r2) => setTimeout(r2, 300));
    const s = await traffic.stop();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(s.failed, JSON.stringify(s.errors)).toBe(0);
    expect(s.sent).toBeGreaterThan(500);
    const pr = await status('production');
    expect(pr.stable?.number).toBe(1);
    expect(await getJson<{ version: string }>(prodUrl)).toMatchObject({ version: '1.0.0' });
    const after = await Promise.all(Array.from({ length: 30 }, () => getJson<{ version: string }>(prodUrl)));
    expect(new Set(after.map((a) => a.version))).toEqual(new Set(['1.0.0']));
  });

  it('a release that never becomes healthy gets no traffic and v1 keeps serving', async () => {
    writeService(app, {
      ...service, version: '3.0.0',
      health: { startDeadline: '3s' },
      envs: { ...service.envs, production: { ...service.envs.production!, config: { FAIL_HEALTH: '1' } } },
    });
    const traffic = startTraffic({ url: prodUrl, concurrency: 8, maxDurationMs: 60_000, pauseMs: 2 });
    const r = await cli('deploy', 'production');
    const s = await traffic.stop();
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/was not healthy within 3000ms \(last probe: \/healthz answered 503\)/);
    expect(r.stdout).toMatch(/rollout failed/);
    expect(s.failed, JSON.stringify(s.errors)).toBe(0);
    expect(Object.keys(s.versions)).toEqual(['1.0.0']);
    const pr = await status('production');
    expect(pr.stable?.number).toBe(1);
    expect(pr.instances.every((i) => i.release === 1 && i.state === 'ready')).toBe(true);
    expect(pr.instances).toHaveLength(3);
  });

  it('a release that crashes on start fails with its last log lines', async () => {
    writeService(app, {
      ...service, version: '4.0.0',
      envs: { ...service.envs, staging: { ...service.envs.staging!, config: { CRASH_ON_START: '1' } } },
    });
    const r = await cli('deploy', 'staging');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/exited before it became healthy/);
    expect(r.stdout).toMatch(/CRASH_ON_START/);
    const st = await status('staging');
    expect(st.stable?.number).toBe(1);
  });

  it('an invalid slipway.yaml is refused with file:line:col and changes nothing', async () => {
    writeService(app, service);
    const before = await getJson<{ releases: unknown[] }>(`${server.url}/api/environments/production/releases`);
    const text = readFileSync(join(app, 'slipway.yaml'), 'utf8').replace('  timeout: 1s', '  timeout: 1s\n  intervall: 2s');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(app, 'slipway.yaml'), text);
    // Both refused by the CLI before it asks the server anything: side by side.
    const [v, r] = await Promise.all([cli('validate'), cli('deploy', 'production')]);
    expect(v.code).toBe(1);
    expect(v.stdout).toMatch(/slipway\.yaml:8:3 .*health\.intervall.*did you mean "interval"/);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_CONFIG_INVALID/);
    expect(r.stderr).toMatch(/slipway\.yaml:8:3/);
    const after = await getJson<{ releases: unknown[] }>(`${server.url}/api/environments/production/releases`);
    expect(after.releases).toHaveLength(before.releases.length);
  });

  it('a second deploy to an environment with a rollout in progress is refused, naming the holder', async () => {
    // The first rollout must still hold the environment when the second deploy arrives,
    // however slow a loaded machine makes the CLI: its instances take 20 s to start.
    writeService(app, {
      ...service, version: '5.0.0', health: { startDeadline: '60s' },
      envs: { ...service.envs, staging: { ...service.envs.staging!, config: { START_DELAY_MS: '20000' } } },
    });
    const first = await cli('deploy', 'staging', '--detach');
    expect(first.code, first.stderr).toBe(0);
    writeService(app, { ...service, version: '5.0.1' });
    const second = await cli('deploy', 'staging');
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/E_ENV_LOCKED/);
    expect(second.stderr).toMatch(/hello\/staging is busy: rollout #\d+ \(deploy of hello\/staging#\d+ by/);
    const statusJson = await cli('--json', 'status', 'staging');
    const parsed = JSON.parse(statusJson.stdout) as EnvironmentStatus;
    expect(parsed.rollout).not.toBeNull();
    const abort = await cli('abort', 'staging');
    expect(abort.code, abort.stderr).toBe(0);
  });
});
