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
});
