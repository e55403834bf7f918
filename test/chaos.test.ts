// Chaos: for each strategy, the server is killed with SIGKILL at every step boundary
// and at least once mid-step; each time a new server takes over. The rollout must
// complete with 0 failed requests and no duplicate or orphaned instances.

import { describe, expect, it } from 'vitest';
import { CHAOS_STRATEGIES, runChaos } from './support/chaos.ts';

// One round per strategy by default: each already kills the server at every step
// boundary and mid-step. More rounds (SLIPWAY_CHAOS_ROUNDS=3) try other timings;
// bench/chaos-bench.ts runs many kills.
const ROUNDS = Math.max(1, Number(process.env.SLIPWAY_CHAOS_ROUNDS ?? 1) || 1);

describe('kill -9 of the server during rollouts', () => {
  for (const strategy of Object.keys(CHAOS_STRATEGIES)) {
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
  }
});
