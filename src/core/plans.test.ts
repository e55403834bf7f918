import { describe, expect, it } from 'vitest';
import { DEFAULT_ANALYSIS } from './analysis/index.ts';
import { describeStep, planBlueGreen, planCanary, planFor, planRolling } from './plans.ts';

const name = (id: number) => (id === 1 ? 'old' : 'new');
const show = (steps: ReturnType<typeof planCanary>) => steps.map((s) => describeStep(s, name));

describe('planCanary', () => {
  const strategy = { type: 'canary' as const, steps: [{ weight: 10 }, { pause: { durationMs: 30_000 } }, { weight: 50 }, { pause: { durationMs: null } }], canaryInstances: null, sticky: null };

  it('grows the canary with its weight and keeps the stable release at full size until the end', () => {
    expect(show(planCanary({ stableReleaseId: 1, stableCount: 4, newReleaseId: 2, instances: 4, strategy }))).toEqual([
      'new to 1 instance(s)', 'traffic old 90%, new 10%', 'pause 30s',
      'new to 2 instance(s)', 'traffic old 50%, new 50%', 'pause until promoted',
      'new to 4 instance(s)', 'traffic new 100%', 'old to 0 instance(s)',
    ]);
  });

  it('uses a fixed canary size when one is set', () => {
    const steps = planCanary({ stableReleaseId: 1, stableCount: 4, newReleaseId: 2, instances: 4, strategy: { ...strategy, canaryInstances: 1 } });
    expect(show(steps).filter((s) => s.startsWith('new to'))).toEqual(['new to 1 instance(s)', 'new to 4 instance(s)']);
  });

  it('a first deploy has nothing to compare with: it starts at full size', () => {
    expect(show(planCanary({ stableReleaseId: null, stableCount: 0, newReleaseId: 2, instances: 3, strategy }))).toEqual([
      'new to 3 instance(s)', 'traffic new 100%',
    ]);
  });
});

describe('planBlueGreen', () => {
  it('starts the full new colour, previews it, waits for a person, switches at once and keeps the old colour warm', () => {
    const steps = planBlueGreen({
      stableReleaseId: 1, stableCount: 3, newReleaseId: 2, instances: 3,
      strategy: { type: 'blue-green', previewListen: { host: '127.0.0.1', port: 9000 }, autoPromote: false, scaleDownDelayMs: 60_000 },
    });
    expect(show(steps)).toEqual([
      'new to 3 instance(s)', 'preview new', 'pause until promoted', 'traffic new 100%', 'close preview', 'pause 60s', 'old to 0 instance(s)',
    ]);
  });

  it('a first deploy with manual promotion does not pause: there is no old colour to keep serving', () => {
    const steps = planBlueGreen({
      stableReleaseId: null, stableCount: 0, newReleaseId: 2, instances: 3,
      strategy: { type: 'blue-green', previewListen: null, autoPromote: false, scaleDownDelayMs: 60_000 },
    });
    expect(show(steps)).not.toContain('pause until promoted');
    expect(steps.some((s) => s.type === 'pause')).toBe(false);
  });

  it('a stable release with no instance left is treated as a first deploy: nothing to wait for or scale down', () => {
    const steps = planBlueGreen({
      stableReleaseId: 1, stableCount: 0, newReleaseId: 2, instances: 3,
      strategy: { type: 'blue-green', previewListen: null, autoPromote: false, scaleDownDelayMs: 60_000 },
    });
    expect(show(steps)).toEqual(['new to 3 instance(s)', 'traffic new 100%']);
  });

  it('with auto promote and no preview it switches as soon as the new colour is ready', () => {
    const steps = planBlueGreen({
      stableReleaseId: 1, stableCount: 3, newReleaseId: 2, instances: 3,
      strategy: { type: 'blue-green', previewListen: null, autoPromote: true, scaleDownDelayMs: 0 },
    });
    expect(show(steps)).toEqual(['new to 3 instance(s)', 'traffic new 100%', 'old to 0 instance(s)']);
  });
});

describe('planFor and the edges of each strategy', () => {
  const analysis = { spec: DEFAULT_ANALYSIS, deadlineMs: null, prometheus: [] };

  it('a canary whose last weight is 100 does not repeat the promotion, and keeps its analysis step', () => {
    const strategy = { type: 'canary' as const, steps: [{ weight: 50 }, { analysis }, { weight: 100 }], canaryInstances: null, sticky: null };
    const steps = planFor(strategy, { stableReleaseId: 1, stableCount: 4, newReleaseId: 2, instances: 4 });
    expect(show(steps)).toEqual(['new to 2 instance(s)', 'traffic old 50%, new 50%', 'analysis', 'new to 4 instance(s)', 'traffic new 100%', 'old to 0 instance(s)']);
    expect(steps[2]).toEqual({ type: 'analysis', analysis });
    expect(steps[4]).toEqual({ type: 'weights', weights: { 2: 100 } });
  });

  it('rolling and blue-green through planFor', () => {
    const rolling = { type: 'rolling' as const, batch: { count: 1 }, maxUnavailable: { count: 2 } };
    // Two may be down at once, but never all three: the floor is one ready instance.
    expect(show(planFor(rolling, { stableReleaseId: 1, stableCount: 3, newReleaseId: 2, instances: 3 }))).toEqual([
      'old to 2 instance(s)', 'new to 1 instance(s)', 'old to 1 instance(s)', 'new to 2 instance(s)', 'old to 0 instance(s)', 'new to 3 instance(s)',
    ]);
    const blueGreen = { type: 'blue-green' as const, previewListen: null, autoPromote: true, scaleDownDelayMs: 0 };
    expect(show(planFor(blueGreen, { stableReleaseId: 1, stableCount: 3, newReleaseId: 2, instances: 3 }))).toEqual(['new to 3 instance(s)', 'traffic new 100%', 'old to 0 instance(s)']);
  });

  it('rolling to zero instances stops every old one', () => {
    const rolling = { type: 'rolling' as const, batch: { count: 1 }, maxUnavailable: { count: 0 } };
    expect(show(planRolling({ stableReleaseId: 1, stableCount: 3, newReleaseId: 2, instances: 0, strategy: rolling }))).toEqual(['old to 0 instance(s)']);
  });
});
