import { describe, expect, it } from 'vitest';
import {
  HIGHEST_MS,
  LOWEST_MS,
  OVERFLOW_BUCKET,
  bucketBoundsMs,
  bucketIndex,
  createHistogram,
  histogramCount,
  isLatencyHistogram,
  meanMs,
  mergeHistograms,
  quantileMs,
  recordMs,
  subtractHistograms,
  type LatencyHistogram,
} from './latency-histogram.ts';
import { mulberry32 } from './analysis/simulate-analysis.ts';

/** The seeded PRNG of the analysis simulations, so the distributions are the same on every run. */
const seededRandom = mulberry32;

function exactQuantile(sorted: number[], q: number): number {
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
}

function histogramOf(samples: number[]): LatencyHistogram {
  const h = createHistogram();
  for (const s of samples) recordMs(h, s);
  return h;
}

const QUANTILES = [0.01, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999];

const DISTRIBUTIONS: Array<[string, (r: () => number) => number]> = [
  ['uniform 1..1000 ms', (r) => 1 + r() * 999],
  ['exponential, mean 20 ms', (r) => -20 * Math.log(1 - r())],
  ['log-normal around 5 ms (wide)', (r) => 5 * Math.exp(1.5 * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()))],
  ['bimodal 0.3 ms / 800 ms', (r) => (r() < 0.8 ? 0.3 + r() * 0.1 : 700 + r() * 200)],
];

describe('latency histogram', () => {
  it.each(DISTRIBUTIONS)('quantiles of %s are within 5%% of the exact ones', (_name, draw) => {
    const r = seededRandom(42);
    const samples = Array.from({ length: 50_000 }, () => Math.min(Math.max(draw(r), LOWEST_MS), HIGHEST_MS - 1));
    const h = histogramOf(samples);
    const sorted = [...samples].sort((a, b) => a - b);
    for (const q of QUANTILES) {
      const exact = exactQuantile(sorted, q);
      const got = quantileMs(h, q)!;
      expect(Math.abs(got - exact) / exact, `q=${q} exact=${exact} got=${got}`).toBeLessThanOrEqual(0.05);
    }
    expect(histogramCount(h)).toBe(samples.length);
    expect(meanMs(h)!).toBeCloseTo(samples.reduce((a, b) => a + b, 0) / samples.length, 6);
  });

  it('buckets are contiguous and each is at most 9.1% wide', () => {
    for (let i = 1; i < OVERFLOW_BUCKET; i++) {
      const [low, high] = bucketBoundsMs(i);
      expect(high / low).toBeLessThanOrEqual(1.091);
      if (i > 1) expect(bucketBoundsMs(i - 1)[1]).toBeCloseTo(low, 9);
      expect(bucketIndex(Math.sqrt(low * high))).toBe(i);
    }
  });

  it('puts values outside the range in the underflow and overflow buckets', () => {
    const h = histogramOf([0, 0.01, -3, Number.NaN, HIGHEST_MS, 10 * HIGHEST_MS]);
    expect(h.counts[0]).toBe(4);
    expect(h.counts[OVERFLOW_BUCKET]).toBe(2);
    expect(quantileMs(h, 0.5)).toBe(LOWEST_MS);
    expect(quantileMs(h, 1)).toBe(HIGHEST_MS);
  });

  it('answers null for the quantile and mean of an empty histogram', () => {
    expect(quantileMs(createHistogram(), 0.99)).toBeNull();
    expect(meanMs(createHistogram())).toBeNull();
  });

  it('merging equals recording every sample into one histogram', () => {
    const r = seededRandom(7);
    const a = Array.from({ length: 3000 }, () => r() * 50);
    const b = Array.from({ length: 5000 }, () => 10 + r() * 500);
    const merged = mergeHistograms(histogramOf(a), histogramOf(b));
    const whole = histogramOf([...a, ...b]);
    expect(merged.counts).toEqual(whole.counts);
    expect(merged.count).toBe(whole.count);
    expect(merged.sumMs).toBeCloseTo(whole.sumMs, 6);
  });

  it('subtracting an earlier snapshot gives exactly the samples of the window', () => {
    const r = seededRandom(9);
    const h = createHistogram();
    for (let i = 0; i < 2000; i++) recordMs(h, r() * 10);
    const earlier = JSON.parse(JSON.stringify(h)) as LatencyHistogram;
    const windowSamples = Array.from({ length: 1000 }, () => 100 + r() * 100);
    for (const s of windowSamples) recordMs(h, s);
    const delta = subtractHistograms(h, earlier);
    const expected = histogramOf(windowSamples);
    expect(delta.counts).toEqual(expected.counts);
    expect(delta.count).toBe(1000);
    expect(delta.sumMs).toBeCloseTo(expected.sumMs, 6);
    expect(quantileMs(delta, 0.01)!).toBeGreaterThan(95);
  });

  it('subtracting snapshots of different histograms (a restart) gives the later one whole', () => {
    const earlier = histogramOf([1, 2, 3, 4]);
    const later = histogramOf([500]);
    expect(subtractHistograms(later, earlier)).toEqual(later);
  });

  it('survives a JSON round trip and keeps only non-empty buckets', () => {
    const h = histogramOf([1, 1, 1, 250]);
    const text = JSON.stringify(h);
    const back = JSON.parse(text) as unknown;
    expect(isLatencyHistogram(back)).toBe(true);
    expect(Object.keys((back as LatencyHistogram).counts)).toHaveLength(2);
    expect(quantileMs(back as LatencyHistogram, 0.5)).toBe(quantileMs(h, 0.5));
    recordMs(back as LatencyHistogram, 1);
    expect((back as LatencyHistogram).counts[bucketIndex(1)]).toBe(4);
    expect(isLatencyHistogram({ counts: { x: 1 }, count: 1, sumMs: 1 })).toBe(false);
  });
});

describe('latency histogram edges', () => {
  it('the first regular bucket starts at LOWEST_MS and the overflow at HIGHEST_MS', () => {
    expect(bucketIndex(LOWEST_MS)).toBe(1);
    expect(bucketIndex(LOWEST_MS * 0.999)).toBe(0);
    expect(bucketIndex(HIGHEST_MS * 0.9999)).toBe(OVERFLOW_BUCKET - 1);
    expect(bucketIndex(HIGHEST_MS)).toBe(OVERFLOW_BUCKET);
    expect(bucketBoundsMs(0)).toEqual([0, LOWEST_MS]);
    expect(bucketBoundsMs(-1)).toEqual([0, LOWEST_MS]);
    expect(bucketBoundsMs(1)[0]).toBe(LOWEST_MS);
    expect(bucketBoundsMs(OVERFLOW_BUCKET - 1)[1]).toBe(HIGHEST_MS);
    expect(bucketBoundsMs(OVERFLOW_BUCKET)).toEqual([HIGHEST_MS, Infinity]);
    expect(bucketBoundsMs(OVERFLOW_BUCKET + 5)).toEqual([HIGHEST_MS, Infinity]);
  });

  it('a negative latency is counted but adds nothing to the sum', () => {
    const h = createHistogram();
    recordMs(h, -5);
    recordMs(h, 0);
    recordMs(h, 10);
    expect([h.count, h.sumMs, meanMs(h)]).toEqual([3, 10, 10 / 3]);
  });

  it('quantiles read the buckets in order of latency, whatever order they were filled in', () => {
    const h = createHistogram();
    recordMs(h, 1000);
    recordMs(h, 1);
    recordMs(h, 10);
    const [q1, q2, q3] = [quantileMs(h, 0.3)!, quantileMs(h, 0.6)!, quantileMs(h, 1)!];
    expect(q1).toBeGreaterThan(0.95);
    expect(q1).toBeLessThan(1.05);
    expect(q2).toBeGreaterThan(9.5);
    expect(q2).toBeLessThan(10.5);
    expect(q3).toBeGreaterThan(950);
    expect(q3).toBeLessThan(1050);
    expect(quantileMs(h, 1 / 3)).toBe(q1);
  });

  it('a quantile of a count that its buckets do not add up to falls back to the highest bucket', () => {
    const h = { counts: { 3: 1, 10: 1 }, count: 5, sumMs: 1 };
    expect(quantileMs(h, 1)).toBe(quantileMs({ counts: { 10: 1 }, count: 1, sumMs: 1 }, 1));
  });

  it('a window is the later snapshot whole when the earlier one had a bucket the later lacks, or more samples', () => {
    const later = { counts: { 5: 2 }, count: 2, sumMs: 1 };
    expect(subtractHistograms(later, { counts: { 4: 1 }, count: 1, sumMs: 0.5 })).toEqual(later);
    expect(subtractHistograms(later, { counts: { 5: 1, 4: 0 }, count: 1, sumMs: 0.5 })).toEqual({ counts: { 5: 1 }, count: 1, sumMs: 0.5 });
    expect(subtractHistograms(later, { counts: {}, count: 3, sumMs: 0 })).toEqual(later);
    expect(subtractHistograms(later, later)).toEqual({ counts: {}, count: 0, sumMs: 0 });
    expect(subtractHistograms({ counts: { 5: 1 }, count: 1, sumMs: 0.1 }, { counts: { 5: 1 }, count: 1, sumMs: 0.1 + 1e-12 }).sumMs).toBe(0);
  });

  it('tells a histogram read from JSON from anything else', () => {
    expect(isLatencyHistogram({ counts: { 3: 1, 10: 0 }, count: 1, sumMs: 2 })).toBe(true);
    for (const v of [null, 'x', 3, { counts: {}, count: '1', sumMs: 0 }, { counts: {}, count: 1 }, { counts: null, count: 1, sumMs: 0 }, { counts: 'x', count: 1, sumMs: 0 },
      { counts: { a: 1 }, count: 1, sumMs: 0 }, { counts: { '3a': 1 }, count: 1, sumMs: 0 }, { counts: { a3: 1 }, count: 1, sumMs: 0 }, { counts: { 3: '1' }, count: 1, sumMs: 0 },
      { counts: { 3: -1 }, count: 1, sumMs: 0 }, { counts: { 3: 1, 4: -1 }, count: 1, sumMs: 0 }]) {
      expect(isLatencyHistogram(v)).toBe(false);
    }
  });
});
