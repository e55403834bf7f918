import { describe, expect, it } from 'vitest';
import { DEFAULT_ANALYSIS } from './analysis-spec.ts';
import { evaluateAnalysis } from './checks.ts';
import { chooseWatchBaseline, DEFAULT_WATCH_MAX_ERROR_RATE, watchSpec, watchStartOffsets, watchStartSpec, type WatchBaselineKind } from './watch-baseline.ts';

const w = (requests: number, errors = 0) => ({ requests, errors });

describe('chooseWatchBaseline', () => {
  const base = { previousNumber: 4, beforeSpanMs: 120_000, minRequests: 20 };
  it.each<[string, ReturnType<typeof w> | null, ReturnType<typeof w> | null, WatchBaselineKind, number]>([
    ['a long rollout: the previous release during it', w(5000, 3), w(20000), 'during-rollout', 5000],
    ['a one-second rollout: the record from before it', w(150), w(20000, 12), 'before-rollout', 20000],
    ['no history from before: the thin record is still used', w(150), null, 'during-rollout', 150],
    ['the server started with the rollout: a thin record from before loses to a thicker one during', w(150), w(40), 'during-rollout', 150],
    ['nothing served during the rollout: the record from before', w(0), w(900), 'before-rollout', 900],
    ['nothing at all', null, null, 'none', 0],
    ['no record during the rollout: the record from before', null, w(900), 'before-rollout', 900],
    ['exactly ten times min_requests during the rollout is enough', w(200), w(20000), 'during-rollout', 200],
    ['nothing at all, counted', w(0), w(0), 'none', 0],
  ])('%s', (_, during, before, kind, requests) => {
    const b = chooseWatchBaseline({ ...base, duringRollout: during, beforeRollout: before });
    expect(b.kind).toBe(kind);
    expect(b.window.requests).toBe(requests);
    expect(b.description).toContain('#4');
    if (kind === 'before-rollout') expect(b.description).toContain('120s before the rollout');
  });
});

describe('watchSpec', () => {
  it('adds the floor to an analysis with no error-rate limits at all', () => {
    const { errorRate: _none, ...noErrorRate } = DEFAULT_ANALYSIS;
    expect(watchSpec(noErrorRate, 0.1).errorRate).toEqual({ max: 0.1 });
  });

  it('adds the floor as error_rate.max, keeping a stricter one written in slipway.yaml', () => {
    expect(watchSpec(DEFAULT_ANALYSIS, 0.05).errorRate).toEqual({ maxIncreaseOverStable: 0.01, max: 0.05 });
    expect(watchSpec({ ...DEFAULT_ANALYSIS, errorRate: { max: 0.02 } }, 0.05).errorRate).toEqual({ max: 0.02 });
    expect(watchSpec({ ...DEFAULT_ANALYSIS, errorRate: { max: 0.2 } }, 0.05).errorRate).toEqual({ max: 0.05 });
    expect(watchSpec(DEFAULT_ANALYSIS, 1)).toBe(DEFAULT_ANALYSIS);
  });

  it('fails a release at 50% errors with no baseline at all, by the floor alone', () => {
    const spec = watchSpec(DEFAULT_ANALYSIS, DEFAULT_WATCH_MAX_ERROR_RATE);
    const r = evaluateAnalysis({ spec, newWindow: w(200, 100), stableWindow: w(0) });
    expect(r.decision).toBe('fail');
    expect(r.reason).toContain('error_rate.max');
  });

  it('does not fail a release at 2% errors by the floor when its baseline also had 2%', () => {
    const spec = watchSpec(DEFAULT_ANALYSIS, DEFAULT_WATCH_MAX_ERROR_RATE);
    const r = evaluateAnalysis({ spec, newWindow: w(20_000, 400), stableWindow: w(20_000, 400) });
    expect(r.decision).toBe('pass');
  });
});

describe('watchStartOffsets and watchStartSpec', () => {
  it('starts a 30-minute watch afresh every 5 minutes, six starts in all', () => {
    expect(watchStartOffsets(30 * 60_000)).toEqual([0, 5, 10, 15, 20, 25].map((m) => m * 60_000));
  });

  it('keeps later starts at least 30 s apart, so a short watch has fewer', () => {
    expect(watchStartOffsets(90_000)).toEqual([0, 30_000, 60_000]);
    expect(watchStartOffsets(180_000)).toEqual([0, 30_000, 60_000, 90_000, 120_000, 150_000]);
    expect(watchStartOffsets(30_000)).toEqual([0]);
    expect(watchStartOffsets(29_000)).toEqual([0]);
    expect(watchStartOffsets(0)).toEqual([0]);
  });

  it('never has more than six starts, however long the watch', () => {
    const offsets = watchStartOffsets(24 * 3_600_000);
    expect(offsets).toHaveLength(6);
    expect(offsets[5]).toBe(20 * 3_600_000);
    // Six steps of 196609/6 ms add up to just under 196609 in floating point: still six.
    expect(watchStartOffsets(196_609)).toHaveLength(6);
  });

  it('shares the false-alarm rate among the starts, leaving the rest of the spec as it is', () => {
    const spec = watchStartSpec(DEFAULT_ANALYSIS, 4);
    expect(spec.alpha).toBeCloseTo(DEFAULT_ANALYSIS.alpha / 4, 12);
    expect(spec.errorRate).toEqual(DEFAULT_ANALYSIS.errorRate);
    expect(watchStartSpec(DEFAULT_ANALYSIS, 0).alpha).toBe(DEFAULT_ANALYSIS.alpha);
  });

  it('a late start sees a regression the whole window dilutes under the limit', () => {
    // 20 minutes at 0.5% then 10 at 3%, against a previous release at 0.5%.
    const spec = watchStartSpec(watchSpec(DEFAULT_ANALYSIS, DEFAULT_WATCH_MAX_ERROR_RATE), 6);
    const baseline = w(20_000, 100);
    const whole = evaluateAnalysis({ spec, newWindow: w(30_000, 100 + 300), stableWindow: baseline });
    const late = evaluateAnalysis({ spec, newWindow: w(10_000, 300), stableWindow: baseline });
    expect(whole.decision).not.toBe('fail');
    expect(late.decision).toBe('fail');
  });
});
