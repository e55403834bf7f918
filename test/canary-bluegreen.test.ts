// Canary and blue-green on real processes: traffic splits measured over many
// requests, sticky users, promote, abort and the blue-green switch back.

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTraffic } from '../src/cli/traffic.ts';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import { freePort, getJson, liveInstanceRows, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess, type ServiceOptions } from './support/harness.ts';

async function versionsOf(url: string, n: number, headers: Record<string, string> = {}): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  const { Agent, request } = await import('undici');
  const agent = new Agent({ connections: 16 });
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < n) {
      next++;
      const res = await request(url, { dispatcher: agent, headers });
      const body = (await res.body.json()) as { version: string };
      counts[body.version] = (counts[body.version] ?? 0) + 1;
    }
  }));
  await agent.close();
  return counts;
}

describe('canary and blue-green rollouts', () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let canaryPort: number;
  let bgPort: number;
  let previewPort: number;
  let service: ServiceOptions;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir });
  const status = (env: string) => getJson<EnvironmentStatus>(`${server.url}/api/environments/${env}`);
  const waitForStep = (env: string, current: string) =>
    waitFor(`${env} to reach "${current}"`, async () => (await status(env)).rollout?.current === current, 30_000);

  beforeAll(async () => {
    work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    [canaryPort, bgPort, previewPort] = [await freePort(), await freePort(), await freePort()];
    service = {
      version: '1.0.0',
      envs: {
        canary: {
          instances: 4, port: canaryPort,
          strategyYaml: 'type: canary\nsteps:\n  - weight: 10\n  - pause: {}\n  - weight: 50\n  - pause: {}\nsticky: { header: x-user-id }',
        },
        bluegreen: {
          instances: 2, port: bgPort,
          strategyYaml: `type: blue-green\npreview_listen: 127.0.0.1:${previewPort}\nauto_promote: false\nscale_down_delay: 60s`,
        },
      },
    };
    writeService(app, service);
    server = await startServerProcess(dataDir);
    for (const env of ['canary', 'bluegreen']) {
      const r = await cli('deploy', env);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    }
    writeService(app, { ...service, version: '2.0.0' });
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('a canary at 10% gets 10% ± 2% of 10,000 requests; forced and sticky users stay on one side', async () => {
    const r = await cli('deploy', 'canary', '--detach');
    expect(r.code, r.stderr).toBe(0);
    await waitForStep('canary', 'pause until promoted');
    const s = await status('canary');
    expect(s.weights).toEqual({ 1: 90, 2: 10 });
    const counts = await versionsOf(`http://127.0.0.1:${canaryPort}/`, 10_000);
    const share = (counts['2.0.0'] ?? 0) / 10_000;
    expect(share).toBeGreaterThan(0.08);
    expect(share).toBeLessThan(0.12);
    expect(await versionsOf(`http://127.0.0.1:${canaryPort}/`, 200, { 'x-slipway-track': 'canary' })).toEqual({ '2.0.0': 200 });
    const sides = new Set<string>();
    for (let user = 0; user < 40; user++) {
      const seen = await versionsOf(`http://127.0.0.1:${canaryPort}/`, 25, { 'x-user-id': `user-${user}` });
      expect(Object.keys(seen)).toHaveLength(1); // every request of a user on one side
      sides.add(Object.keys(seen)[0]!);
    }
    expect(sides.size).toBe(2); // and users are spread over both
  });

  it('promote moves the canary past its pause; abort under load returns all traffic to stable with 0 failed', async () => {
    const p = await cli('promote', 'canary');
    expect(p.code, p.stderr).toBe(0);
    await waitForStep('canary', 'pause until promoted');
    expect((await status('canary')).weights).toEqual({ 1: 50, 2: 50 });
    const traffic = startTraffic({ url: `http://127.0.0.1:${canaryPort}/`, concurrency: 8, maxDurationMs: 60_000, pauseMs: 2 });
    await new Promise((res) => setTimeout(res, 500));
    const a = await cli('abort', 'canary', '--wait');
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/rolled_back/);
    const after = await versionsOf(`http://127.0.0.1:${canaryPort}/`, 500);
    const s = await traffic.stop();
    expect(s.failed, JSON.stringify(s.errors)).toBe(0);
    expect(after).toEqual({ '1.0.0': 500 });
    const st = await status('canary');
    expect(st.stable?.number).toBe(1);
    expect(st.instances.map((i) => i.release)).toEqual([1, 1, 1, 1]);
    expect(liveInstanceRows(dataDir).filter((i) => i.env === 'hello/canary')).toHaveLength(4);
  });

  it('blue-green previews the new colour, switches at once on promote, and switches back within the warm window', async () => {
    const r = await cli('deploy', 'bluegreen', '--detach');
    expect(r.code, r.stderr).toBe(0);
    await waitForStep('bluegreen', 'pause until promoted');
    // The step is recorded before the router is told (a crash between the two redoes
    // the push): the preview listener opens a moment after status shows the pause.
    await waitFor('the preview listener', async () => (await versionsOf(`http://127.0.0.1:${previewPort}/`, 1).catch(() => null))?.['2.0.0'] === 1, 10_000);
    expect(await versionsOf(`http://127.0.0.1:${previewPort}/`, 50)).toEqual({ '2.0.0': 50 });
    expect(await versionsOf(`http://127.0.0.1:${bgPort}/`, 200)).toEqual({ '1.0.0': 200 });
    const traffic = startTraffic({ url: `http://127.0.0.1:${bgPort}/`, concurrency: 8, maxDurationMs: 60_000, pauseMs: 2 });
    const p = await cli('promote', 'bluegreen');
    expect(p.code, p.stderr).toBe(0);
    await waitForStep('bluegreen', 'pause 60s');
    await waitFor('the switch to reach the router', async () => (await versionsOf(`http://127.0.0.1:${bgPort}/`, 1))['2.0.0'] === 1, 10_000);
    expect(await versionsOf(`http://127.0.0.1:${bgPort}/`, 200)).toEqual({ '2.0.0': 200 });
    // Both colours still run: going back is one switch.
    expect((await status('bluegreen')).instances.filter((i) => i.state === 'ready')).toHaveLength(4);
    const back = await cli('rollback', 'bluegreen');
    expect(back.code, back.stdout + back.stderr).toBe(0);
    expect(await versionsOf(`http://127.0.0.1:${bgPort}/`, 200)).toEqual({ '1.0.0': 200 });
    const s = await traffic.stop();
    expect(s.failed, JSON.stringify(s.errors)).toBe(0);
    expect(s.versions['2.0.0']).toBeGreaterThan(0);
    await waitFor('the new colour to stop', async () => (await status('bluegreen')).instances.length === 2, 30_000);
  });

  it('pause holds a rollout and resume carries it on; commands that do not apply are refused', async () => {
    const refused = await cli('resume', 'canary');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/E_ROLLOUT_STATE.*canary has no rollout in progress/);
    const r = await cli('deploy', 'canary', '--detach', '--force');
    expect(r.code, r.stderr).toBe(0);
    await waitForStep('canary', 'pause until promoted');
    const pause = await cli('pause', 'canary');
    expect(pause.code, pause.stderr).toBe(0);
    expect((await status('canary')).rollout?.phase).toBe('paused');
    const again = await cli('pause', 'canary');
    expect(again.stderr).toMatch(/already paused/);
    expect((await cli('resume', 'canary')).code).toBe(0);
    const full = await cli('promote', 'canary', '--full');
    expect(full.code, full.stderr).toBe(0);
    await waitFor('the canary to finish', async () => (await status('canary')).rollout === null, 30_000);
    const st = await status('canary');
    expect(st.stable?.number).toBeGreaterThan(1);
    expect(await versionsOf(`http://127.0.0.1:${canaryPort}/`, 100)).toEqual({ '2.0.0': 100 });
  });
});
