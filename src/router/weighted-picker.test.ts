import { describe, expect, it } from 'vitest';
import { WeightedPicker } from './weighted-picker.ts';

function countPicks(picker: WeightedPicker<string>, n: number): Record<string, number> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const b = picker.pick();
    const key = b ?? 'none';
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

describe('weighted picker', () => {
  it('splits traffic by weight over many requests (10/90 within ±1%)', () => {
    const picker = new WeightedPicker([
      { release: 'r1', weight: 10, backends: ['a'] },
      { release: 'r2', weight: 90, backends: ['b'] },
    ]);
    const counts = countPicks(picker, 100_000);
    expect(Math.abs((counts.a ?? 0) / 100_000 - 0.1)).toBeLessThan(0.01);
  });

  it('renormalises over releases that have backends and ignores zero weights', () => {
    const picker = new WeightedPicker([
      { release: 'r1', weight: 20, backends: ['a'] },
      { release: 'r2', weight: 60, backends: [] },
      { release: 'r3', weight: 0, backends: ['c'] },
      { release: 'r4', weight: 5, backends: ['d'] },
    ]);
    expect(picker.effectiveShares()).toEqual({ r1: 80, r4: 20 });
    const counts = countPicks(picker, 50_000);
    expect(counts.c).toBeUndefined();
    expect(Math.abs((counts.a ?? 0) / 50_000 - 0.8)).toBeLessThan(0.015);
  });

  it('goes round-robin among the backends of a release', () => {
    const picker = new WeightedPicker([{ release: 'r1', weight: 100, backends: ['a', 'b', 'c'] }]);
    expect(Array.from({ length: 6 }, () => picker.pick())).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('answers null when nothing can take traffic', () => {
    expect(new WeightedPicker<string>([]).pick()).toBeNull();
    expect(new WeightedPicker([{ release: 'r1', weight: 0, backends: ['a'] }]).isEmpty).toBe(true);
  });

  it('retries on another backend of the same release first, then on any other release', () => {
    const picker = new WeightedPicker([
      { release: 'r1', weight: 50, backends: ['a1', 'a2'] },
      { release: 'r2', weight: 50, backends: ['b1'] },
    ]);
    for (let i = 0; i < 5; i++) expect(picker.pickOther('a1', 'r1')).toBe('a2');
    const solo = new WeightedPicker([
      { release: 'r1', weight: 99, backends: ['a1'] },
      { release: 'r2', weight: 1, backends: ['b1'] },
    ]);
    expect(solo.pickOther('a1', 'r1')).toBe('b1');
    expect(new WeightedPicker([{ release: 'r1', weight: 1, backends: ['a1'] }]).pickOther('a1', 'r1')).toBeNull();
  });

  it('uses the random source it is given (deterministic choice)', () => {
    const picker = new WeightedPicker([
      { release: 'r1', weight: 25, backends: ['a'] },
      { release: 'r2', weight: 75, backends: ['b'] },
    ]);
    expect(picker.pick(() => 0.2499)).toBe('a');
    expect(picker.pick(() => 0.25)).toBe('b');
    expect(picker.pick(() => 0.9999)).toBe('b');
  });
});
