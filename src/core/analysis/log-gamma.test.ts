import { describe, expect, it } from 'vitest';
import { logBeta, logGamma, xLogY } from './log-gamma.ts';

function logFactorial(n: number): number {
  let s = 0;
  for (let i = 2; i <= n; i++) s += Math.log(i);
  return s;
}

describe('logGamma', () => {
  it.each([
    [1, 0],
    [2, 0],
    [0.5, 0.5 * Math.log(Math.PI)],
    [1.5, Math.log(Math.sqrt(Math.PI) / 2)],
    [5.5, Math.log((945 / 32) * Math.sqrt(Math.PI))],
    [10, Math.log(362880)],
    [0.1, 2.252712651734206],
  ])('ln Γ(%d) is %d', (x, expected) => {
    expect(logGamma(x)).toBeCloseTo(expected, 12);
  });

  it('matches ln((n−1)!) far out, where Γ itself overflows', () => {
    for (const n of [50, 171, 1000, 100_000]) {
      expect(Math.abs(logGamma(n) - logFactorial(n - 1)) / logFactorial(n - 1)).toBeLessThan(1e-13);
    }
  });
});

describe('logBeta', () => {
  it('B(½, ½) is π and B(a, 1) is 1/a', () => {
    expect(logBeta(0.5, 0.5)).toBeCloseTo(Math.log(Math.PI), 13);
    expect(logBeta(7, 1)).toBeCloseTo(-Math.log(7), 13);
  });
});

describe('xLogY', () => {
  it('is exact below ½ too, where it reflects: Γ(0.1) and Γ(¼)', () => {
    expect(logGamma(0.1)).toBeCloseTo(2.252712651734206, 12);
    expect(logGamma(0.25)).toBeCloseTo(Math.log(3.625609908221908), 12);
  });

  it('treats 0 · ln 0 as 0', () => {
    expect(xLogY(0, 0)).toBe(0);
    expect(xLogY(2, Math.E)).toBeCloseTo(2, 15);
  });
});
