import { describe, expect, it } from 'vitest';
import { createHistogram, recordMs, type LatencyHistogram } from '../latency-histogram.ts';
import type { LatencyLimit, LatencyQuantile } from './analysis-spec.ts';
import type { AnalysisWindow } from './analysis-window.ts';
import { latencyChecks, minSamples } from './latency-checks.ts';

/** A histogram of `n` requests at each of the given latencies. */
const hist = (...parts: [n: number, ms: number][]): LatencyHistogram => {
  const h = createHistogram();
  for (const [n, ms] of parts) for (let i = 0; i < n; i++) recordMs(h, ms);
  return h;
};
const measured = (requests: number, p99: number): AnalysisWindow => ({ requests, errors: 0, latencyQuantilesMs: { p99 } });
const recorded = (h: LatencyHistogram): AnalysisWindow => ({ requests: Object.values(h.counts).reduce((a, b) => a + b, 0), errors: 0, latency: h });
const none: AnalysisWindow = { requests: 2000, errors: 0 };

const run = (limit: LatencyLimit, newWindow: AnalysisWindow, stableWindow: AnalysisWindow = none, o: { quantile?: LatencyQuantile; minRequests?: number } = {}) =>
  latencyChecks({ quantile: o.quantile ?? 'p99', limit, newWindow, stableWindow, minRequests: o.minRequests ?? 100, alpha: 0.01 })
    .map((c) => [c.check, c.decision, c.method, c.reason]);

describe('latency.pXX.max from a measured quantile (no histogram)', () => {
  it.each([
    [none, 'inconclusive', 'no p99 measured for new'],
    [measured(999, 600), 'inconclusive', 'too few requests for p99: 999 of 1000'],
    [measured(1000, 600), 'fail', 'new p99 600 ms > limit 500 ms'],
    [measured(1000, 500), 'pass', 'new p99 500 ms ≤ limit 500 ms'],
  ] as const)('%j: %s, "%s"', (w, decision, reason) => {
    expect(run({ maxMs: 500 }, w)).toEqual([['latency.p99.max', decision, 'quantile-point', reason]]);
  });

  it('writes latencies under 10 ms with two decimals', () => {
    expect(run({ maxMs: 8.5 }, measured(1000, 9.25))[0]![3]).toBe('new p99 9.25 ms > limit 8.50 ms');
    expect(run({ maxMs: 10 }, measured(1000, 10))[0]![3]).toBe('new p99 10 ms ≤ limit 10 ms');
  });
});

describe('latency.pXX.max from a histogram (the sequential test on slow requests)', () => {
  it.each([
    [hist([50, 40]), 'inconclusive', 'new p99 41 ms vs limit 500 ms: 0 of 50 requests slower than the limit, allowed 1.0%; too few requests (50 of 100), ln E harm -2.53/4.61, safety -2.03/3.00'],
    [hist([1900, 40], [100, 800]), 'fail', 'new p99 784 ms vs limit 500 ms: 100 of 2000 requests slower than the limit, allowed 1.0%; too many are slower (fail), ln E harm 78.56/4.61, safety -4.03/3.00'],
    [hist([2000, 40]), 'pass', 'new p99 41 ms vs limit 500 ms: 0 of 2000 requests slower than the limit, allowed 1.0%; few enough are slower (pass), ln E harm -4.37/4.61, safety 15.73/3.00'],
    [hist([1000, 40], [100, 502]), 'inconclusive', 'new p99 509 ms vs limit 500 ms: 0–100 of 1100 requests slower than the limit, allowed 1.0%; not yet decided, ln E harm -4.07/4.61, safety -3.73/3.00'],
    [hist([300, 40]), 'inconclusive', 'new p99 41 ms vs limit 500 ms: 0 of 300 requests slower than the limit, allowed 1.0%; not yet decided, ln E harm -3.42/4.61, safety -0.41/3.00'],
  ])('%#: %s', (h, decision, reason) => {
    expect(run({ maxMs: 500 }, recorded(h))).toEqual([['latency.p99.max', decision, 'sequential-one-sample', reason]]);
  });

  it('with min_requests 0 it still needs one request', () => {
    expect(run({ maxMs: 500 }, recorded(createHistogram()), none, { minRequests: 0 })[0]![3]).toContain('too few requests (0 of 1)');
  });

  it('reports the evidence with the alpha it was given', () => {
    const [c] = latencyChecks({ quantile: 'p99', limit: { maxMs: 500 }, newWindow: recorded(hist([2000, 40])), stableWindow: none, minRequests: 100, alpha: 0.01, beta: 0.2 });
    expect(c!.evidence).toMatchObject({ alpha: 0.01, threshold: Math.log(100), passThreshold: Math.log(5) });
    expect([c!.stable, c!.threshold, c!.unit]).toEqual([null, 500, 'ms']);
  });
});

describe('latency.pXX.max_ratio_to_stable', () => {
  const p99 = { maxRatioToStable: 1.5 };

  it.each([
    [measured(2000, 300), measured(2000, 100), 'fail', 'new p99 300 ms vs stable 100 ms × 1.5 = 150 ms: above the limit beyond sampling noise (new at least 300 ms, stable at most 100 ms)'],
    [measured(2000, 150), measured(2000, 100), 'pass', 'new p99 150 ms vs stable 100 ms × 1.5 = 150 ms: within the limit'],
    [none, measured(2000, 100), 'inconclusive', 'no p99 measured yet for new'],
    [measured(2000, 100), none, 'inconclusive', 'no p99 measured yet for stable'],
    [measured(999, 100), measured(2000, 100), 'inconclusive', 'too few samples for p99: new 999, stable 2000, each needs 1000'],
    [measured(2000, 100), measured(999, 100), 'inconclusive', 'too few samples for p99: new 2000, stable 999, each needs 1000'],
    [recorded(hist([2000, 40])), measured(2000, 100), 'pass', 'new p99 41 ms vs stable 100 ms × 1.5 = 150 ms: within the limit'],
  ] as const)('from measured quantiles %#: %s', (newWindow, stableWindow, decision, reason) => {
    expect(run(p99, newWindow, stableWindow)).toEqual([['latency.p99.max_ratio_to_stable', decision, 'quantile-point', reason]]);
  });

  it.each([
    [hist([1900, 40], [100, 800]), hist([1900, 40], [100, 100]), 'fail', 'new p99 784 ms vs stable 98 ms × 1.5 = 147 ms: above the limit beyond sampling noise (new at least 784 ms, stable at most 98 ms)'],
    [hist([2000, 40]), hist([2000, 40]), 'pass', 'new p99 41 ms vs stable 41 ms × 1.5 = 62 ms: within the limit'],
    [hist([1975, 40], [25, 200]), hist([1985, 40], [15, 100]), 'inconclusive', 'new p99 196 ms vs stable 41 ms × 1.5 = 62 ms: above the limit but within sampling noise; waiting for more samples'],
  ])('from histograms %#: %s', (newHist, stableHist, decision, reason) => {
    expect(run(p99, recorded(newHist), recorded(stableHist))).toEqual([['latency.p99.max_ratio_to_stable', decision, 'quantile-interval', reason]]);
  });

  it('gives the stable quantile and the limit it makes', () => {
    const [c] = latencyChecks({ quantile: 'p99', limit: p99, newWindow: measured(2000, 150), stableWindow: measured(2000, 100), minRequests: 100, alpha: 0.01 });
    expect([c!.observed, c!.stable, c!.threshold]).toEqual([150, 100, 150]);
    const [missing] = latencyChecks({ quantile: 'p99', limit: p99, newWindow: measured(2000, 150), stableWindow: none, minRequests: 100, alpha: 0.01 });
    expect(missing!.threshold).toBeNull();
  });
});

describe('latencyChecks', () => {
  it('runs the absolute check, then the ratio check, and nothing for a quantile with no limit', () => {
    const w = { requests: 2000, errors: 0, latencyQuantilesMs: { p50: 100 } };
    expect(run({ maxMs: 500, maxRatioToStable: 2 }, w, w, { quantile: 'p50', minRequests: 20 })).toEqual([
      ['latency.p50.max', 'pass', 'quantile-point', 'new p50 100 ms ≤ limit 500 ms'],
      ['latency.p50.max_ratio_to_stable', 'pass', 'quantile-point', 'new p50 100 ms vs stable 100 ms × 2 = 200 ms: within the limit'],
    ]);
    expect(run({}, w)).toEqual([]);
  });

  it('a quantile needs ten samples beyond it, and min_requests', () => {
    expect([minSamples(0.5, 0), minSamples(0.9, 0), minSamples(0.99, 0), minSamples(0.99, 5000)]).toEqual([20, 100, 1000, 5000]);
  });
});
