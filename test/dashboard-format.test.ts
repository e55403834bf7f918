// How the dashboard words what the server sends (src/ui/format.js, a plain browser
// module with no imports, loaded here as it is): durations a person reads, and
// analysis verdicts in words instead of log-likelihood ratios.

import { describe, expect, it } from 'vitest';
import type { CheckResult } from '../src/core/analysis/check-result.ts';

interface Format {
  duration(ms: number | null): string;
  readableDurations(text: string): string;
  checkName(check: string): string;
  checkVerdict(c: CheckResult): string;
  analysisVerdict(a: { decision: string; checks: CheckResult[]; reason: string }): string;
}

// A path the type checker does not follow: the module is JavaScript without declarations.
const MODULE = '../src/ui/format.js';
const f = (await import(MODULE)) as Format;

const check = (o: Partial<CheckResult>): CheckResult => ({
  check: 'error_rate.max', decision: 'pass', observed: 0.001, stable: null, threshold: 0.01, unit: 'fraction', method: 'sequential-one-sample',
  evidence: { logLikelihoodRatio: -7.42, threshold: 4.61, passLogLikelihoodRatio: 5, passThreshold: 3, alpha: 0.01 }, reason: 'harm ln E = -7.42 < 4.61', ...o,
});

describe('dashboard wording', () => {
  it('writes durations as a person says them, not in raw milliseconds', () => {
    expect(f.duration(850)).toBe('850 ms');
    expect(f.duration(4200)).toBe('4.2 s');
    expect(f.duration(300_000)).toBe('5 min');
    expect(f.duration(90_000)).toBe('1 min 30 s');
    expect(f.duration(5_400_000)).toBe('1 h 30 min');
    expect(f.readableDurations('blue-green (promote by hand, old colour warm 300000ms)')).toBe('blue-green (promote by hand, old colour warm 5 min)');
    expect(f.readableDurations('pause 90s')).toBe('pause 1 min 30 s');
    expect(f.readableDurations('pause 5s')).toBe('pause 5 s');
  });

  it('gives an analysis verdict in words with the figures, never the e-value maths', () => {
    const passed = f.checkVerdict(check({}));
    expect(passed).toBe('passed: 0.10%, within the limit of 1.00%');
    const worse = f.checkVerdict(check({ check: 'latency.p99.max_ratio_to_stable', decision: 'fail', observed: 900, stable: 120, threshold: 240, unit: 'ms' }));
    expect(worse).toBe('failed: 900 ms (stable: 120 ms), beyond the limit of 240 ms');
    expect(f.checkName('latency.p99.max_ratio_to_stable')).toBe('p99 latency against stable');
    expect(f.checkVerdict(check({ decision: 'inconclusive', observed: null }))).toContain('not measured yet');
    const verdict = f.analysisVerdict({ decision: 'fail', reason: 'harm ln E = -7.42 < 4.61', checks: [check({}), check({ check: 'latency.p99.max', decision: 'fail', observed: 900, threshold: 500, unit: 'ms' })] });
    expect(verdict).toBe('The new release is worse than allowed: p99 latency.');
    for (const text of [passed, worse, verdict]) expect(text).not.toMatch(/ln E|[<>]/);
  });
});
