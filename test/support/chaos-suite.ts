// The vitest cases of test/chaos-<strategy>.test.ts; the run itself is in chaos.ts,
// which bench/chaos-bench.ts uses outside vitest.

import { describe, expect, it } from 'vitest';
import { CHAOS_STRATEGIES, runChaos } from './chaos.ts';

// One round per strategy by default: each already kills the server at every step
// boundary and mid-step. More rounds (SLIPWAY_CHAOS_ROUNDS=3) try other timings;
// bench/chaos-bench.ts runs many kills.
const ROUNDS = Math.max(1, Number(process.env.SLIPWAY_CHAOS_ROUNDS ?? 1) || 1);

/**
 * The chaos cases of one strategy. One file per strategy (test/chaos-<strategy>.test.ts):
 * each takes one to two minutes, and three in one file made a six-minute file that
 * kept one worker busy alone at the end of the run.
 */
export function describeChaos(strategy: string): void {
  if (!(strategy in CHAOS_STRATEGIES)) throw new Error(`no chaos strategy ${strategy}`);
  describe(`kill -9 of the server during a ${strategy} rollout`, () => {
    for (let round = 1; round <= ROUNDS; round++) {
      it(`${strategy} rollout survives kills at each step boundary (round ${round})`, async () => {
        const r = await runChaos({ strategy, maxKills: 12 });
        expect(r.phase, r.events.join('\n')).toBe('succeeded');
        expect(r.kills).toBeGreaterThanOrEqual(2);
        expect(r.traffic.failed, JSON.stringify({ errors: r.traffic.errors, byStatus: r.traffic.byStatus })).toBe(0);
        expect(r.traffic.sent).toBeGreaterThan(200);
        expect(r.instances).toBe(3);
        expect(r.duplicates).toBe(0);
        expect(r.orphans).toBe(0);
        expect(r.servedVersions).toEqual(['2.0.0']);
      }, 300_000);
    }
  });
}
