import { describe, expect, it } from 'vitest';
import { formatDurationMs, parseCountOrPercent, parseDurationMs, resolveCount } from './duration.ts';

describe('parseDurationMs', () => {
  it.each([
    ['1s', 1000], ['250ms', 250], ['2m', 120_000], ['1h', 3_600_000], ['7d', 604_800_000],
    ['1m30s', 90_000], ['1.5s', 1500], [' 2s ', 2000], ['1500', 1500], ['2.5', 2.5], ['2.25', 2.25], ['0.0004s', 0],
    [1500, 1500], [0, 0],
  ] as const)('reads %j as %d ms', (text, ms) => {
    expect(parseDurationMs(text)).toBe(ms);
  });

  it.each(['', 's', '1x', '1s2', 'x1s', '1 s', '-1s', '1s junk', '1.s'] as const)('refuses %j', (text) => {
    expect(parseDurationMs(text)).toBeNull();
  });

  it('refuses a negative or infinite number', () => {
    expect(parseDurationMs(-1)).toBeNull();
    expect(parseDurationMs(Number.POSITIVE_INFINITY)).toBeNull();
    expect(parseDurationMs(Number.NaN)).toBeNull();
  });
});

describe('formatDurationMs', () => {
  it.each([
    [0, '0ms'], [999.4, '999ms'], [1000, '1s'], [1500, '1.5s'], [59_000, '59s'],
    [60_000, '1m'], [90_000, '1m30s'], [125_000, '2m5s'], [3_600_000, '60m'],
  ] as const)('writes %d ms as %s', (ms, text) => {
    expect(formatDurationMs(ms)).toBe(text);
  });
});

describe('parseCountOrPercent', () => {
  it.each([
    [2, { count: 2 }], [0, { count: 0 }], ['3', { count: 3 }], [' 3 ', { count: 3 }],
    ['34%', { percent: 34 }], ['12.5%', { percent: 12.5 }], ['12.25%', { percent: 12.25 }], ['12', { count: 12 }], ['0%', { percent: 0 }], ['100%', { percent: 100 }], [' 50% ', { percent: 50 }],
  ] as const)('reads %j', (v, want) => {
    expect(parseCountOrPercent(v)).toEqual(want);
  });

  it.each([1.5, -1, '101%', '-5%', '5 %', '%', 'x', '1.5', '3x', 'x3', 'a34%', '34%b'] as const)('refuses %j', (v) => {
    expect(parseCountOrPercent(v)).toBeNull();
  });
});

describe('resolveCount', () => {
  it('takes a count as it is and rounds a share of the total up', () => {
    expect(resolveCount({ count: 2 }, 10)).toBe(2);
    expect(resolveCount({ percent: 34 }, 3)).toBe(2);
    expect(resolveCount({ percent: 50 }, 4)).toBe(2);
    expect(resolveCount({ percent: 10 }, 3)).toBe(1);
    expect(resolveCount({ percent: 0 }, 3) + 0).toBe(0); // -0 from the rounding margin
  });
});
