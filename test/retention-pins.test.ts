// Release retention against what is in use, in-process on virtual time
// (support/engine-harness.ts: a real engine, SQLite file, artefacts and trees; a
// FAKE fleet and router). The end-to-end files (release-retention, docker-retention)
// cover real processes and images.

import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { engineHarness, type EngineHarness } from './support/engine-harness.ts';

const ENV = 'shop/production';

function yaml(strategy: string): string {
  return ['service: shop', 'run:', '  command: node server.js', 'environments:', '  production:', '    instances: 1', '    listen: 127.0.0.1:18080',
    '    keep_releases: 1', '    strategy:', ...strategy.trim().split('\n').map((l) => `      ${l}`), ''].join('\n');
}
const ROLLING = 'type: rolling\nbatch: 1';
const PAUSED_CANARY = 'type: canary\nsteps:\n  - weight: 20\n  - pause: {}';

let h: EngineHarness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

describe('release retention keeps what is in use', () => {
  it('a sweep during a paused canary leaves both its sides and the rollback target; after promotion the old target goes', async () => {
    h = await engineHarness();
    for (const v of ['v1', 'v2', 'v3']) {
      await h.deploy(ENV, yaml(ROLLING), v);
      expect((await h.settleRollout(ENV)).phase).toBe('succeeded');
    }
    await h.engine.retention.idle();
    await h.deploy(ENV, yaml(PAUSED_CANARY), 'v4');
    await h.clock.until('the canary to wait at its pause', () => {
      const r = h!.store.activeRollout(ENV);
      return r !== null && r.plan.steps[r.stepIndex]?.type === 'pause';
    });
    const report = await h.engine.retention.sweep('test');
    // Newest: #4 (the canary); in use: #3 (stable, the canary's other side) and #2 (the rollback target).
    expect(report.retired).toEqual([]);
    const release = (n: number) => h!.store.getReleaseByNumber(ENV, n)!;
    const retired = (n: number) => h!.store.retention.retiredAt(release(n).id) !== null;
    expect([1, 2, 3, 4].map(retired)).toEqual([true, false, false, false]);
    for (const n of [2, 3, 4]) expect(existsSync(release(n).dir), `tree of #${n}`).toBe(true);
    expect(existsSync(release(1).dir)).toBe(false);
    // Promoted: #4 stable, #3 the rollback target; #2 goes.
    await h.engine.command(ENV, { type: 'promote', by: 'tester', full: true });
    expect((await h.settleRollout(ENV)).phase).toBe('succeeded');
    await h.engine.retention.idle();
    expect([1, 2, 3, 4].map(retired)).toEqual([true, true, false, false]);
    await expect(h.engine.rollback({ env: ENV, to: 2, actor: 'tester' })).rejects.toMatchObject({ code: 'E_NO_RELEASE', details: { removedBy: 'retention', release: 2 } });
  });

  it('a rollback does not wait for a sweep still removing images: its release is kept, so nothing of it goes', async () => {
    h = await engineHarness();
    for (const v of ['v1', 'v2', 'v3']) {
      await h.deploy(ENV, yaml(ROLLING), v);
      expect((await h.settleRollout(ENV)).phase).toBe('succeeded');
    }
    await h.engine.retention.idle();
    // After v5: stable #5, rollback target #4, and #3 beyond keep_releases. Say #3 had
    // an image, whose removal by the engine hangs until the test lets it go.
    await h.deploy(ENV, yaml(ROLLING), 'v4');
    expect((await h.settleRollout(ENV)).phase).toBe('succeeded');
    await h.engine.retention.idle();
    await h.deploy(ENV, yaml(ROLLING), 'v5');
    h.store.db.prepare('UPDATE releases SET image_id = ? WHERE env = ? AND number = 3').run('sha256:image-of-3', ENV);
    let letGo: () => void = () => {};
    const removing = new Promise<void>((r) => (letGo = r));
    let asked = 0;
    Object.assign(h.fleet, {
      removeImage: async () => {
        asked++;
        await removing;
        return { deleted: true, bytes: 1, keptBecause: null };
      },
    });
    expect((await h.settleRollout(ENV)).phase).toBe('succeeded');
    // The sweep after v5's rollout retired #3 and waits on its image.
    await h.clock.until('the sweep to ask for the image', () => asked === 1, { maxMs: 60_000 });
    let rolledBack = false;
    const back = h.engine.rollback({ env: ENV, actor: 'slipway-analysis' }).then((r) => {
      rolledBack = true;
      return r;
    });
    await h.clock.until('the rollback to start while the sweep still waits', () => rolledBack, { maxMs: 60_000 });
    expect((await back).release.number).toBe(4);
    letGo();
    await h.engine.retention.idle();
    expect((await h.settleRollout(ENV)).phase).toBe('succeeded');
  });
});
