// `slipway rollback` goes back to the release before the stable one: the one the
// rollout that made the stable release came from. That rollout was looked for
// among the environment's newest 200 rollouts only, so after 200 failed attempts
// at a next release (a deploy loop in CI, say) the stable release had "no earlier
// release to roll back to".

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StateStore } from '../src/store/state-store.ts';
import { freePort, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type ServerProcess } from './support/harness.ts';

describe('the rollback target behind many failed rollouts', () => {
  const work = scratchDir('slipway-rollback-history-');
  const app = join(work, 'hello');
  const dataDir = join(work, '.slipway');
  let server: ServerProcess | null = null;
  let port = 0;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir, timeoutMs: 120_000 });

  beforeAll(async () => {
    port = await freePort();
    writeService(app, { envs: { production: { instances: 1, port } } });
    server = await startServerProcess(dataDir);
    expect((await cli('deploy', 'production')).code).toBe(0);
    writeService(app, { version: '2.0.0', envs: { production: { instances: 1, port } } });
    expect((await cli('deploy', 'production')).code).toBe(0);
    // 250 failed rollouts of a third release since #2 became stable, recorded while
    // the server is stopped (it is state.db's only writer).
    await server.stop();
    const store = new StateStore(join(dataDir, 'state.db'));
    try {
      const env = 'hello/production';
      const stable = store.getRelease(store.getStableReleaseId(env)!)!;
      store.atomically(() => {
        const third = store.insertRelease({ env, service: 'hello', artefactDigest: stable.artefactDigest, config: stable.config, configHash: `sha256:${'3'.repeat(64)}`, dir: stable.dir, createdAt: Date.now(), createdBy: 'ci' });
        for (let i = 0; i < 250; i++) {
          const at = Date.now() + i;
          store.insertRollout({
            env, kind: 'deploy', fromReleaseId: stable.id, toReleaseId: third.id, phase: 'failed', plan: { steps: [] }, stepIndex: 0, stepStartedAt: null,
            traffic: null, preview: null, reason: 'recorded by the test', createdBy: 'ci', createdAt: at, updatedAt: at, finishedAt: at,
          });
        }
      });
    } finally {
      store.close();
    }
    server = await startServerProcess(dataDir);
  }, 180_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  }, 60_000);

  it('still goes back to #1', async () => {
    const r = await cli('--json', 'rollback', 'production');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { release: { number: number } }).release.number).toBe(1);
    const body = await (await fetch(`http://127.0.0.1:${port}/`)).text();
    expect(body).toContain('1.0.0');
  }, 120_000);
});
