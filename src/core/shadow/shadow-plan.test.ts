import { describe, expect, it } from 'vitest';
import { planBlueGreen, planCanary } from '../plans.ts';
import { SHADOW_DEFAULTS, type ShadowSpec } from './shadow-spec.ts';

const shadow: ShadowSpec = { ...SHADOW_DEFAULTS, methods: ['GET'], paths: ['/*'], headers: [], ignore: [], durationMs: 60_000 };
const input = { stableReleaseId: 1, stableCount: 4, newReleaseId: 2, instances: 4 };

describe('shadow steps in plans', () => {
  it('a canary starts a new instance for the copies before its first weight, so the shadow step comes before any user traffic moves', () => {
    const steps = planCanary({ ...input, strategy: { type: 'canary', steps: [{ shadow }, { weight: 50 }], canaryInstances: null, sticky: null } });
    expect(steps.slice(0, 4)).toEqual([
      { type: 'scale', releaseId: 2, count: 1 },
      { type: 'shadow', shadow },
      { type: 'scale', releaseId: 2, count: 2 },
      { type: 'weights', weights: { 1: 50, 2: 50 } },
    ]);
  });

  it('blue-green shadows the full new colour before the switch, and not at all without a stable release', () => {
    const strategy = { type: 'blue-green' as const, previewListen: null, autoPromote: true, scaleDownDelayMs: 0, shadow };
    expect(planBlueGreen({ ...input, strategy }).slice(0, 3)).toEqual([
      { type: 'scale', releaseId: 2, count: 4 },
      { type: 'shadow', shadow },
      { type: 'weights', weights: { 2: 100 } },
    ]);
    expect(planBlueGreen({ ...input, stableReleaseId: null, stableCount: 0, strategy }).some((s) => s.type === 'shadow')).toBe(false);
  });
});
