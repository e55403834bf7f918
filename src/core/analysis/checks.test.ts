import { describe, expect, it } from 'vitest';
import { createHistogram, recordMs, type LatencyHistogram } from '../latency-histogram.ts';
import { DEFAULT_ANALYSIS, type AnalysisSpec } from './analysis-spec.ts';
import { windowFromSnapshots, type AnalysisWindow } from './analysis-window.ts';
import type { CheckResult } from './check-result.ts';
import { decideAtDeadline, evaluateAnalysis, sequentialCheckCount } from './checks.ts';
import { minSamples } from './latency-checks.ts';

/** A histogram of `fast` samples at fastMs and `slow` at slowMs. */
function latencies(o: { fast: number; fastMs: number; slow?: number; slowMs?: number }): LatencyHistogram {
  const h = createHistogram();
  for (let i = 0; i < o.fast; i++) recordMs(h, o.fastMs);
  for (let i = 0; i < (o.slow ?? 0); i++) recordMs(h, o.slowMs ?? 0);
  return h;
}

function only(checks: CheckResult[], name: string): CheckResult {
  const found = checks.find((c) => c.check === name);
  if (!found) throw new Error(`no check ${name} in ${checks.map((c) => c.check).join(', ')}`);
  return found;
}

const spec = (over: Partial<AnalysisSpec>): AnalysisSpec => ({ ...DEFAULT_ANALYSIS, errorRate: undefined, ...over });
const healthy: AnalysisWindow = { requests: 10_000, errors: 10 };

describe('evaluateAnalysis with the default analysis', () => {
  it.each<[string, AnalysisWindow, AnalysisWindow, string]>([
    ['too few canary requests', { requests: DEFAULT_ANALYSIS.minRequests - 1, errors: DEFAULT_ANALYSIS.minRequests - 1 }, healthy, 'inconclusive'],
    ['a clearly bad canary', { requests: 100, errors: 30 }, { requests: 900, errors: 1 }, 'fail'],
    ['a canary as good as stable with plenty of traffic', { requests: 5000, errors: 5 }, { requests: 45_000, errors: 45 }, 'pass'],
    ['a canary a little worse, within the 1-point tolerance, early on', { requests: 200, errors: 2 }, { requests: 1800, errors: 9 }, 'inconclusive'],
  ])('%s → %s', (_name, newWindow, stableWindow, expected) => {
    expect(evaluateAnalysis({ spec: DEFAULT_ANALYSIS, newWindow, stableWindow }).decision).toBe(expected);
  });

  it('reports the figures behind the decision', () => {
    const r = evaluateAnalysis({ spec: DEFAULT_ANALYSIS, newWindow: { requests: 100, errors: 30 }, stableWindow: { requests: 900, errors: 9 } });
    const c = only(r.checks, 'error_rate.max_increase_over_stable');
    expect(c).toMatchObject({ decision: 'fail', observed: 0.3, stable: 0.01, unit: 'fraction', method: 'sequential-two-sample' });
    expect(c.threshold).toBeCloseTo(0.02, 12);
    expect(c.evidence?.alpha).toBe(0.01);
    expect(c.evidence?.logLikelihoodRatio).toBeGreaterThanOrEqual(c.evidence?.threshold ?? Infinity);
    expect(r.reason).toMatch(/^error_rate\.max_increase_over_stable \(new 30\.0% \(30\/100\)/);
    expect(only(r.checks, 'min_requests')).toMatchObject({ decision: 'pass', observed: 100, threshold: 20 });
  });
});

describe('alpha is shared by the sequential checks', () => {
  it('splits alpha evenly among error-rate and absolute latency checks', () => {
    const s = spec({ alpha: 0.03, errorRate: { max: 0.01, maxIncreaseOverStable: 0.01 }, latency: { p99: { maxMs: 500, maxRatioToStable: 1.5 } } });
    expect(sequentialCheckCount(s)).toBe(3);
    const r = evaluateAnalysis({ spec: s, newWindow: { ...healthy, latency: latencies({ fast: 100, fastMs: 20 }) }, stableWindow: healthy });
    expect(only(r.checks, 'error_rate.max').evidence?.alpha).toBeCloseTo(0.01, 15);
    expect(only(r.checks, 'latency.p99.max').evidence?.alpha).toBeCloseTo(0.01, 15);
  });
});

describe('resource checks', () => {
  it.each<[string, Partial<AnalysisSpec>, Partial<AnalysisWindow>, Partial<AnalysisWindow>, string, string]>([
    ['restarts above max fail even before min_requests', { restarts: { max: 0 } }, { requests: 3, restarts: 1 }, {}, 'restarts.max', 'fail'],
    ['restarts within max pass', { restarts: { max: 1 } }, { restarts: 1 }, {}, 'restarts.max', 'pass'],
    ['cpu above max_percent fails', { cpu: { maxPercent: 80 } }, { cpuPercent: 95 }, {}, 'cpu.max_percent', 'fail'],
    ['cpu ratio against an idle stable uses the 5% floor (7% ≤ 1.5 × 5%)', { cpu: { maxRatioToStable: 1.5 } }, { cpuPercent: 7 }, { cpuPercent: 1 }, 'cpu.max_ratio_to_stable', 'pass'],
    ['cpu ratio above the floored limit fails (8% > 7.5%)', { cpu: { maxRatioToStable: 1.5 } }, { cpuPercent: 8 }, { cpuPercent: 1 }, 'cpu.max_ratio_to_stable', 'fail'],
    ['cpu ratio with a busy stable (50% × 1.5)', { cpu: { maxRatioToStable: 1.5 } }, { cpuPercent: 70 }, { cpuPercent: 50 }, 'cpu.max_ratio_to_stable', 'pass'],
    ['memory above max_mb fails', { memory: { maxMb: 512 } }, { rssMb: 600 }, {}, 'memory.max_mb', 'fail'],
    ['memory ratio (300 MB > 2 × 120 MB) fails', { memory: { maxRatioToStable: 2 } }, { rssMb: 300 }, { rssMb: 120 }, 'memory.max_ratio_to_stable', 'fail'],
    ['memory not reported yet is inconclusive', { memory: { maxMb: 512 } }, {}, {}, 'memory.max_mb', 'inconclusive'],
  ])('%s', (_name, over, nw, st, check, expected) => {
    const r = evaluateAnalysis({ spec: spec(over), newWindow: { ...healthy, ...nw }, stableWindow: { ...healthy, ...st } });
    expect(only(r.checks, check).decision).toBe(expected);
    if (expected === 'fail') expect(r.decision).toBe('fail');
  });
});

describe('latency checks', () => {
  const p99max = spec({ latency: { p99: { maxMs: 500 } } });

  it('p99 max: 5% of requests at 800 ms fails, judged by the share of slow requests', () => {
    const newWindow = { ...healthy, latency: latencies({ fast: 1900, fastMs: 40, slow: 100, slowMs: 800 }) };
    const c = only(evaluateAnalysis({ spec: p99max, newWindow, stableWindow: healthy }).checks, 'latency.p99.max');
    expect(c).toMatchObject({ decision: 'fail', method: 'sequential-one-sample', threshold: 500 });
    expect(c.observed).toBeGreaterThan(700);
    expect(c.reason).toContain('100 of 2000 requests slower than the limit');
  });

  it('p99 max: no slow request in 2000 passes; 0.5% slow in 200 is not yet decided', () => {
    const fast = { ...healthy, latency: latencies({ fast: 2000, fastMs: 40 }) };
    expect(only(evaluateAnalysis({ spec: p99max, newWindow: fast, stableWindow: healthy }).checks, 'latency.p99.max').decision).toBe('pass');
    const few = { ...healthy, latency: latencies({ fast: 199, fastMs: 40, slow: 1, slowMs: 800 }) };
    expect(only(evaluateAnalysis({ spec: p99max, newWindow: few, stableWindow: healthy }).checks, 'latency.p99.max').decision).toBe('inconclusive');
  });

  it('p99 max: a bucket straddling the limit delays the decision instead of deciding wrongly', () => {
    // 502 ms falls in the bucket [487, 531) ms: each of those samples is only "maybe slower than 500 ms".
    const straddling = { ...healthy, latency: latencies({ fast: 1000, fastMs: 40, slow: 100, slowMs: 502 }) };
    expect(only(evaluateAnalysis({ spec: p99max, newWindow: straddling, stableWindow: healthy }).checks, 'latency.p99.max').decision).toBe('inconclusive');
  });

  const p99ratio = spec({ latency: { p99: { maxRatioToStable: 1.5 } } });
  /** n latencies spread evenly on a log scale over [10, 1000] ms, times `scale`: p99 ≈ 933 ms × scale. */
  const spread = (n: number, scale = 1): AnalysisWindow => {
    const h = createHistogram();
    for (let i = 0; i < n; i++) recordMs(h, scale * 10 * 100 ** ((i + 0.5) / n));
    return { requests: n, errors: 0, latency: h };
  };
  const judgeRatio = (n: number, scale: number) =>
    only(evaluateAnalysis({ spec: p99ratio, newWindow: spread(n, scale), stableWindow: spread(n) }).checks, 'latency.p99.max_ratio_to_stable');

  it('p99 ratio needs ≥ 1000 samples on each side (10 beyond the quantile)', () => {
    expect(minSamples(0.99, 50)).toBe(1000);
    expect(minSamples(0.9, 50)).toBe(100);
    expect(minSamples(0.5, 50)).toBe(50);
    const c = judgeRatio(999, 3);
    expect(c.decision).toBe('inconclusive');
    expect(c.reason).toContain('each needs 1000');
  });

  it('p99 ratio: the same tail passes, a tail 2× slower fails, with the figures', () => {
    expect(judgeRatio(1000, 1)).toMatchObject({ decision: 'pass', method: 'quantile-interval' });
    const c = judgeRatio(1000, 2);
    expect(c).toMatchObject({ decision: 'fail', method: 'quantile-interval' });
    expect(c.threshold).toBeCloseTo((c.stable ?? 0) * 1.5, 9);
  });

  it('p99 ratio: 1.6× (just over 1.5×) waits at 1000 samples instead of flapping, and fails once 10000 resolve it', () => {
    expect(judgeRatio(1000, 1.6).decision).toBe('inconclusive');
    expect(judgeRatio(10_000, 1.6).decision).toBe('fail');
  });

  it('uses quantiles measured elsewhere when there is no histogram', () => {
    const s = spec({ latency: { p90: { maxMs: 100, maxRatioToStable: 2 } } });
    const r = evaluateAnalysis({
      spec: s,
      newWindow: { ...healthy, latencyQuantilesMs: { p90: 150 } },
      stableWindow: { ...healthy, latencyQuantilesMs: { p90: 60 } },
    });
    expect(only(r.checks, 'latency.p90.max')).toMatchObject({ decision: 'fail', method: 'quantile-point', observed: 150 });
    expect(only(r.checks, 'latency.p90.max_ratio_to_stable')).toMatchObject({ decision: 'fail', threshold: 120 });
  });
});

describe('decideAtDeadline', () => {
  it.each([
    ['inconclusive', 'wait', 'wait'],
    ['inconclusive', 'fail', 'fail'],
    ['inconclusive', 'pass', 'pass'],
    ['fail', 'pass', 'fail'],
    ['pass', 'fail', 'pass'],
  ] as const)('%s with policy %s → %s', (decision, policy, expected) => {
    expect(decideAtDeadline({ decision, checks: [], reason: '' }, policy)).toBe(expected);
  });
});

describe('windowFromSnapshots', () => {
  const snapshot = (requests: number, fiveXx: number, latency: LatencyHistogram) => ({ requests, status: { '5xx': fiveXx }, latency });

  it('takes deltas, counting errors as 5xx only (the router already answers 502/504 as 5xx)', () => {
    const w = windowFromSnapshots({
      start: snapshot(100, 2, latencies({ fast: 100, fastMs: 10 })),
      now: snapshot(350, 7, latencies({ fast: 300, fastMs: 10, slow: 50, slowMs: 900 })),
      gauges: { cpuPercent: 12 },
    });
    expect(w).toMatchObject({ requests: 250, errors: 5, cpuPercent: 12 });
    expect(w.latency?.count).toBe(250);
  });

  it('a release with no counters at the start counts from zero; either counter going back means a restart', () => {
    const now = snapshot(40, 1, latencies({ fast: 40, fastMs: 10 }));
    expect(windowFromSnapshots({ start: null, now })).toMatchObject({ requests: 40, errors: 1 });
    expect(windowFromSnapshots({ start: snapshot(10, 2, latencies({ fast: 10, fastMs: 10 })), now })).toMatchObject({ requests: 40, errors: 1 });
    expect(windowFromSnapshots({ start: snapshot(41, 0, latencies({ fast: 41, fastMs: 10 })), now })).toMatchObject({ requests: 40, errors: 1 });
    expect(windowFromSnapshots({ start: snapshot(40, 1, latencies({ fast: 40, fastMs: 10 })), now })).toMatchObject({ requests: 0, errors: 0 });
  });

  it('uses the later snapshot alone when the counters went backwards (the router restarted)', () => {
    const w = windowFromSnapshots({ start: snapshot(1000, 9, latencies({ fast: 1000, fastMs: 10 })), now: snapshot(40, 1, latencies({ fast: 40, fastMs: 10 })) });
    expect(w).toMatchObject({ requests: 40, errors: 1 });
  });
});

describe('long requests (past proxy.long_request)', () => {
  it('takes their deltas from the router\'s `long` counters; a snapshot from before them has none', () => {
    const at = (requests: number, long?: { requests: number; errors: number }) => ({ requests, status: { '5xx': 0 }, latency: latencies({ fast: requests, fastMs: 10 }), ...(long ? { long } : {}) });
    expect(windowFromSnapshots({ start: at(100, { requests: 3, errors: 1 }), now: at(200, { requests: 10, errors: 2 }) }).long).toEqual({ requests: 7, errors: 1 });
    expect(windowFromSnapshots({ start: at(100), now: at(200, { requests: 4, errors: 0 }) }).long).toEqual({ requests: 4, errors: 0 });
    expect(windowFromSnapshots({ start: null, now: at(200) }).long).toBeUndefined();
  });

  it('passes a canary whose ordinary requests are fast, and says how many long ones it left out of latency', () => {
    const p99 = spec({ latency: { p99: { maxMs: 500 } } });
    const fast = latencies({ fast: 3000, fastMs: 20 });
    const r = evaluateAnalysis({ spec: p99, newWindow: { requests: 3040, errors: 1, latency: fast, long: { requests: 40, errors: 1 } }, stableWindow: { requests: 3030, errors: 0, latency: fast, long: { requests: 30, errors: 0 } } });
    expect(r.decision).toBe('pass');
    expect(r.longRequests).toEqual({ new: { requests: 40, errors: 1 }, stable: { requests: 30, errors: 0 } });
    expect(r.reason).toContain('long requests left out of latency: new 40, 1 failed, stable 30');
    // Without any, nothing is said.
    const none = evaluateAnalysis({ spec: p99, newWindow: { requests: 3000, errors: 0, latency: fast, long: { requests: 0, errors: 0 } }, stableWindow: { requests: 3000, errors: 0, latency: fast } });
    expect(none.longRequests).toBeUndefined();
    expect(none.reason).not.toContain('long');
  });
});

describe('resource checks and what the analysis says', () => {
  const resources = spec({ cpu: { maxPercent: 80, maxRatioToStable: 2 }, memory: { maxMb: 512, maxRatioToStable: 1.5 }, restarts: { max: 1 } });
  const rows = (s: AnalysisSpec, newWindow: AnalysisWindow, stableWindow: AnalysisWindow) => {
    const r = evaluateAnalysis({ spec: s, newWindow, stableWindow });
    return { decision: r.decision, reason: r.reason, checks: r.checks.map((c) => [c.check, c.decision, c.observed, c.stable, c.threshold, c.unit, c.method, c.reason]) };
  };

  it('passes a canary within every resource limit and says so', () => {
    expect(rows(resources, { requests: 100, errors: 0, cpuPercent: 40, rssMb: 200, restarts: 0 }, { requests: 100, errors: 0, cpuPercent: 30, rssMb: 180 })).toEqual({
      decision: 'pass', reason: 'all 6 checks passed', checks: [
        ['min_requests', 'pass', 100, null, 20, 'count', 'count', '100 of 20 requests served by new'],
        ['cpu.max_percent', 'pass', 40, null, 80, 'percent', 'gauge', 'new 40.0% ≤ 80.0%'],
        ['cpu.max_ratio_to_stable', 'pass', 40, 30, 60, 'percent', 'gauge', 'new 40.0% ≤ stable 30.0% × 2 = 60.0%'],
        ['memory.max_mb', 'pass', 200, null, 512, 'MB', 'gauge', 'new 200.0 MB ≤ 512.0 MB'],
        ['memory.max_ratio_to_stable', 'pass', 200, 180, 270, 'MB', 'gauge', 'new 200.0 MB ≤ stable 180.0 MB × 1.5 = 270.0 MB'],
        ['restarts.max', 'pass', 0, null, 1, 'count', 'count', '0 restarts of new, at most 1 allowed'],
      ],
    });
  });

  it('fails on each resource, comparing an idle stable with its floor, and lists every failure', () => {
    expect(rows(resources, { requests: 100, errors: 0, cpuPercent: 90, rssMb: 600, restarts: 2 }, { requests: 100, errors: 0, cpuPercent: 2, rssMb: 30 })).toEqual({
      decision: 'fail',
      reason: 'cpu.max_percent (new 90.0% > 80.0%); cpu.max_ratio_to_stable (new 90.0% > stable 2.0% × 2 (stable counted as 5.0%) = 10.0%); memory.max_mb (new 600.0 MB > 512.0 MB); memory.max_ratio_to_stable (new 600.0 MB > stable 30.0 MB × 1.5 (stable counted as 64.0 MB) = 96.0 MB); restarts.max (2 restarts of new, at most 1 allowed)',
      checks: [
        ['min_requests', 'pass', 100, null, 20, 'count', 'count', '100 of 20 requests served by new'],
        ['cpu.max_percent', 'fail', 90, null, 80, 'percent', 'gauge', 'new 90.0% > 80.0%'],
        ['cpu.max_ratio_to_stable', 'fail', 90, 2, 10, 'percent', 'gauge', 'new 90.0% > stable 2.0% × 2 (stable counted as 5.0%) = 10.0%'],
        ['memory.max_mb', 'fail', 600, null, 512, 'MB', 'gauge', 'new 600.0 MB > 512.0 MB'],
        ['memory.max_ratio_to_stable', 'fail', 600, 30, 96, 'MB', 'gauge', 'new 600.0 MB > stable 30.0 MB × 1.5 (stable counted as 64.0 MB) = 96.0 MB'],
        ['restarts.max', 'fail', 2, null, 1, 'count', 'count', '2 restarts of new, at most 1 allowed'],
      ],
    });
  });

  it('waits for what is not measured yet, naming which release', () => {
    expect(rows(resources, { requests: 100, errors: 0 }, { requests: 100, errors: 0 }).reason).toBe(
      'waiting on: cpu.max_percent (new not measured yet); cpu.max_ratio_to_stable (new not measured yet); memory.max_mb (new not measured yet); memory.max_ratio_to_stable (new not measured yet); restarts.max (restarts of new not reported)');
    const r = rows(resources, { requests: 100, errors: 0, cpuPercent: 10, rssMb: 100, restarts: 1 }, { requests: 100, errors: 0 });
    expect([r.decision, r.reason]).toEqual(['inconclusive', 'waiting on: cpu.max_ratio_to_stable (stable not measured yet); memory.max_ratio_to_stable (stable not measured yet)']);
    expect(r.checks[2]).toEqual(['cpu.max_ratio_to_stable', 'inconclusive', 10, null, null, 'percent', 'gauge', 'stable not measured yet']);
  });

  it('a level exactly at its limit passes', () => {
    expect(rows(spec({ cpu: { maxPercent: 80 } }), { requests: 100, errors: 0, cpuPercent: 80 }, { requests: 100, errors: 0 }).checks[1]).toEqual(
      ['cpu.max_percent', 'pass', 80, null, 80, 'percent', 'gauge', 'new 80.0% ≤ 80.0%']);
    expect(rows(spec({ cpu: { maxRatioToStable: 2 } }), { requests: 100, errors: 0, cpuPercent: 10 }, { requests: 100, errors: 0, cpuPercent: 5 }).checks[1]).toEqual(
      ['cpu.max_ratio_to_stable', 'pass', 10, 5, 10, 'percent', 'gauge', 'new 10.0% ≤ stable 5.0% × 2 = 10.0%']);
    expect(rows(spec({ restarts: { max: 1 } }), { requests: 100, errors: 0, restarts: 1 }, { requests: 100, errors: 0 }).decision).toBe('pass');
  });

  it('min_requests is met at exactly min_requests, and the error checks report their figures', () => {
    expect(rows(spec({ errorRate: { max: 0.05 } }), { requests: 19, errors: 0 }, { requests: 0, errors: 0 })).toEqual({
      decision: 'inconclusive', reason: 'waiting on: min_requests (19 of 20 requests served by new); error_rate.max (too few requests: 19 of 20)', checks: [
        ['min_requests', 'inconclusive', 19, null, 20, 'count', 'count', '19 of 20 requests served by new'],
        ['error_rate.max', 'inconclusive', 0, null, 0.05, 'fraction', 'sequential-one-sample', 'too few requests: 19 of 20'],
      ],
    });
    expect(rows(spec({}), { requests: 20, errors: 0 }, { requests: 0, errors: 0 })).toEqual({
      decision: 'pass', reason: 'all 1 checks passed', checks: [['min_requests', 'pass', 20, null, 20, 'count', 'count', '20 of 20 requests served by new']],
    });
    expect(rows(spec({ errorRate: { maxIncreaseOverStable: 0.01 } }), { requests: 200, errors: 0 }, { requests: 0, errors: 0 }).checks[1]).toEqual(
      ['error_rate.max_increase_over_stable', 'inconclusive', 0, null, null, 'fraction', 'sequential-two-sample', 'too few requests: new 200, stable 0, each needs 20']);
  });

  it('counts as sequential only the error-rate limits and the absolute latency limits', () => {
    expect(sequentialCheckCount(spec({ latency: { p99: { maxRatioToStable: 2 } } }))).toBe(0);
    expect(sequentialCheckCount(spec({ errorRate: { maxIncreaseOverStable: 0.01 }, latency: { p50: { maxMs: 1 }, p99: { maxMs: 2, maxRatioToStable: 2 } } }))).toBe(3);
    expect(sequentialCheckCount(spec({ errorRate: { max: 0.01 } }))).toBe(1);
    expect(sequentialCheckCount(spec({}))).toBe(0);
  });
});
