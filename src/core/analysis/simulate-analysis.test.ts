// The stated guarantees, checked on simulated traffic: evaluated every simulated
// second like the server does, on seeded randomness so every run is the same.

import { describe, expect, it } from 'vitest';
import { DEFAULT_ANALYSIS, type AnalysisSpec } from './analysis-spec.ts';
import { mulberry32, sampleBinomial, simulateAnalysisRun, type CanaryScenario, type SimulatedRun } from './simulate-analysis.ts';

function runMany(o: { scenario: CanaryScenario; spec: AnalysisSpec; runs: number; seed: number }): SimulatedRun[] {
  const random = mulberry32(o.seed);
  return Array.from({ length: o.runs }, () => simulateAnalysisRun({ scenario: o.scenario, spec: o.spec, random }));
}

const countFailed = (runs: SimulatedRun[]) => runs.filter((r) => r.failedAtSecond !== null).length;

// With alpha = 1% the expected false fails in 1000 runs are at most 10; 20 is 3
// standard deviations of Binomial(1000, 0.01) above that.
const FALSE_FAIL_BOUND_PER_1000 = 20;

describe('sampleBinomial', () => {
  it('has the mean n·p and variance n·p·(1−p) over many draws', () => {
    const random = mulberry32(7);
    for (const [n, p] of [[300, 0.005], [300, 0.1], [40, 0.3], [1000, 0.9]] as const) {
      const draws = Array.from({ length: 20_000 }, () => sampleBinomial(random, n, p));
      const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
      const variance = draws.reduce((a, b) => a + (b - mean) ** 2, 0) / draws.length;
      expect(Math.abs(mean - n * p)).toBeLessThan(5 * Math.sqrt((n * p * (1 - p)) / draws.length));
      expect(variance / (n * p * (1 - p))).toBeGreaterThan(0.95);
      expect(variance / (n * p * (1 - p))).toBeLessThan(1.05);
      expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...draws)).toBeLessThanOrEqual(n);
    }
  });
});

describe('a bad canary is stopped early', () => {
  it('30% errors vs 0.1% stable at 10% of 300 req/s fails within 5 s, after a few dozen canary requests', () => {
    const scenario = { requestsPerSecond: 300, canaryWeight: 0.1, stableErrorRate: 0.001, newErrorRate: 0.3, seconds: 120 };
    const runs = runMany({ scenario, spec: DEFAULT_ANALYSIS, runs: 1000, seed: 1 });
    expect(runs.every((r) => r.failedAtSecond !== null && r.failedAtSecond <= 5)).toBe(true);
    const meanCanaryRequests = runs.reduce((a, r) => a + r.newRequests, 0) / runs.length;
    // min_requests (20) is a floor; the evidence, not a clock, decides after it.
    expect(meanCanaryRequests).toBeGreaterThanOrEqual(DEFAULT_ANALYSIS.minRequests);
    expect(meanCanaryRequests).toBeLessThan(60);
    console.log(`bad canary stopped after ${meanCanaryRequests.toFixed(1)} canary requests on average`);
  });

  it('5% errors vs 0.1% stable (4 points over the 1-point tolerance) fails within 2 min in ≥ 99% of runs', () => {
    const scenario = { requestsPerSecond: 300, canaryWeight: 0.1, stableErrorRate: 0.001, newErrorRate: 0.05, seconds: 120 };
    const runs = runMany({ scenario, spec: DEFAULT_ANALYSIS, runs: 500, seed: 2 });
    expect(countFailed(runs)).toBeGreaterThanOrEqual(495);
  });
});

describe('false fails stay within alpha while looking every second for 2 minutes (A/A)', () => {
  const aa = { requestsPerSecond: 300, canaryWeight: 0.1, stableErrorRate: 0.005, newErrorRate: 0.005, seconds: 120 };

  it('default analysis, both releases at 0.5% errors: at most ~1% of 1000 runs fail', () => {
    const runs = runMany({ scenario: aa, spec: DEFAULT_ANALYSIS, runs: 1000, seed: 3 });
    expect(countFailed(runs)).toBeLessThanOrEqual(FALSE_FAIL_BOUND_PER_1000);
    // ...and a good canary is usually promoted on evidence within the 2 minutes.
    expect(runs.filter((r) => r.passedAtSecond !== null).length).toBeGreaterThanOrEqual(700);
  });

  it('zero tolerance, so the canary sits exactly on the null boundary where alpha is tight', () => {
    const spec = { ...DEFAULT_ANALYSIS, errorRate: { maxIncreaseOverStable: 0 } };
    expect(countFailed(runMany({ scenario: aa, spec, runs: 1000, seed: 4 }))).toBeLessThanOrEqual(FALSE_FAIL_BOUND_PER_1000);
  });

  it('error_rate.max with the canary exactly at the limit', () => {
    const spec: AnalysisSpec = { ...DEFAULT_ANALYSIS, errorRate: { max: 0.01 } };
    const atLimit = { ...aa, newErrorRate: 0.01 };
    expect(countFailed(runMany({ scenario: atLimit, spec, runs: 1000, seed: 5 }))).toBeLessThanOrEqual(FALSE_FAIL_BOUND_PER_1000);
  });
});
