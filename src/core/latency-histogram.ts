// A mergeable latency histogram with logarithmic buckets: the router records every
// request into one per release, and analysis merges, subtracts (for a time window)
// and reads quantiles from them. Pure: no clock, no I/O.
//
// Buckets grow by 2^(1/8) (~9.05%) from LOWEST_MS to HIGHEST_MS, so a quantile read
// as the bucket's geometric middle is within ~4.4% of the true value. The histogram
// is its own JSON form: only non-empty buckets appear in `counts`, and it survives
// JSON.stringify/JSON.parse unchanged (keys become strings, which index the same).

/** Smallest latency with its own bucket; anything faster lands in the underflow bucket 0. */
export const LOWEST_MS = 0.05;
/** Latencies at or above this land in the overflow bucket. */
export const HIGHEST_MS = 120_000;
/** Buckets per doubling. */
export const BUCKETS_PER_OCTAVE = 8;

const GROWTH = 2 ** (1 / BUCKETS_PER_OCTAVE);
const REGULAR_BUCKETS = Math.ceil(Math.log2(HIGHEST_MS / LOWEST_MS) * BUCKETS_PER_OCTAVE);
/** Index of the overflow bucket; index 0 is underflow, 1..REGULAR_BUCKETS are regular. */
export const OVERFLOW_BUCKET = REGULAR_BUCKETS + 1;

export interface LatencyHistogram {
  /** bucket index → number of samples; only non-empty buckets are present. */
  counts: Record<number, number>;
  count: number;
  sumMs: number;
}

export function createHistogram(): LatencyHistogram {
  return { counts: {}, count: 0, sumMs: 0 };
}

/** The bucket a latency falls in: 0 below LOWEST_MS, OVERFLOW_BUCKET at or above HIGHEST_MS. */
export function bucketIndex(ms: number): number {
  if (!(ms >= LOWEST_MS)) return 0; // also catches NaN
  if (ms >= HIGHEST_MS) return OVERFLOW_BUCKET;
  const i = Math.floor(Math.log2(ms / LOWEST_MS) * BUCKETS_PER_OCTAVE) + 1;
  return i > REGULAR_BUCKETS ? REGULAR_BUCKETS : i;
}

/** [low, high) of a bucket in milliseconds; underflow is [0, LOWEST_MS), overflow [HIGHEST_MS, ∞). */
export function bucketBoundsMs(index: number): [number, number] {
  if (index <= 0) return [0, LOWEST_MS];
  if (index >= OVERFLOW_BUCKET) return [HIGHEST_MS, Infinity];
  const low = LOWEST_MS * GROWTH ** (index - 1);
  return [low, Math.min(low * GROWTH, HIGHEST_MS)];
}

/** The value a bucket stands for: its geometric middle, which halves the worst relative error. */
function bucketValueMs(index: number): number {
  if (index <= 0) return LOWEST_MS;
  if (index >= OVERFLOW_BUCKET) return HIGHEST_MS;
  const [low, high] = bucketBoundsMs(index);
  return Math.sqrt(low * high);
}

export function recordMs(h: LatencyHistogram, ms: number): void {
  const i = bucketIndex(ms);
  h.counts[i] = (h.counts[i] ?? 0) + 1;
  h.count += 1;
  if (ms > 0) h.sumMs += ms;
}

export function histogramCount(h: LatencyHistogram): number {
  return h.count;
}

export function meanMs(h: LatencyHistogram): number | null {
  return h.count > 0 ? h.sumMs / h.count : null;
}

/** A new histogram holding the samples of both. */
export function mergeHistograms(a: LatencyHistogram, b: LatencyHistogram): LatencyHistogram {
  const out: LatencyHistogram = { counts: { ...a.counts }, count: a.count + b.count, sumMs: a.sumMs + b.sumMs };
  for (const [k, n] of Object.entries(b.counts)) {
    const i = Number(k);
    out.counts[i] = (out.counts[i] ?? 0) + n;
  }
  return out;
}

/**
 * The samples recorded between two snapshots of the same cumulative histogram
 * (`later` taken after `earlier`). A bucket that would go negative means the
 * snapshots are not of one histogram (e.g. the router restarted in between): the
 * answer is then `later` alone, which is every sample since that restart.
 */
export function subtractHistograms(later: LatencyHistogram, earlier: LatencyHistogram): LatencyHistogram {
  const out: LatencyHistogram = { counts: {}, count: later.count - earlier.count, sumMs: later.sumMs - earlier.sumMs };
  if (out.count < 0) return cloneHistogram(later);
  for (const [k, n] of Object.entries(later.counts)) {
    const d = n - (earlier.counts[Number(k)] ?? 0);
    if (d < 0) return cloneHistogram(later);
    if (d > 0) out.counts[Number(k)] = d;
  }
  for (const k of Object.keys(earlier.counts)) {
    if (later.counts[Number(k)] === undefined && (earlier.counts[Number(k)] ?? 0) > 0) return cloneHistogram(later);
  }
  if (out.sumMs < 0) out.sumMs = 0; // float drift on an empty window
  return out;
}

export function cloneHistogram(h: LatencyHistogram): LatencyHistogram {
  return { counts: { ...h.counts }, count: h.count, sumMs: h.sumMs };
}

/**
 * The q-quantile (0 ≤ q ≤ 1) in milliseconds, or null for an empty histogram. The
 * answer is the middle of the bucket holding the sample of rank ceil(q·count), so
 * it is within half a bucket (~4.4%) of the true sample.
 */
export function quantileMs(h: LatencyHistogram, q: number): number | null {
  if (h.count <= 0) return null;
  const rank = Math.max(1, Math.ceil(Math.min(Math.max(q, 0), 1) * h.count));
  const indexes = Object.keys(h.counts).map(Number).sort((x, y) => x - y);
  let seen = 0;
  for (const i of indexes) {
    seen += h.counts[i] ?? 0;
    if (seen >= rank) return bucketValueMs(i);
  }
  return bucketValueMs(indexes[indexes.length - 1] ?? 0);
}

/** Whether a parsed value has the histogram's shape, for code that reads it from JSON. */
export function isLatencyHistogram(v: unknown): v is LatencyHistogram {
  if (typeof v !== 'object' || v === null) return false;
  const h = v as Record<string, unknown>;
  if (typeof h.count !== 'number' || typeof h.sumMs !== 'number') return false;
  if (typeof h.counts !== 'object' || h.counts === null) return false;
  return Object.entries(h.counts).every(([k, n]) => /^\d+$/.test(k) && typeof n === 'number' && n >= 0);
}
