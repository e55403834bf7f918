import { describe, expect, it } from 'vitest';
import type { ReleaseCountsSnapshot } from '../core/analysis/index.ts';
import { createHistogram, recordMs } from '../core/latency-histogram.ts';
import { LiveMetrics } from './live-metrics.ts';

function counts(requests: number, errors: number, latenciesMs: number[]): ReleaseCountsSnapshot {
  const latency = createHistogram();
  for (const ms of latenciesMs) recordMs(latency, ms);
  return { requests, status: { '5xx': errors }, latency };
}

const world = (releases: Record<string, ReleaseCountsSnapshot>) => new Map([['production', new Map(Object.entries(releases))]]);

describe('LiveMetrics', () => {
  it('makes one point per release per interval from the difference of cumulative counters', () => {
    const live = new LiveMetrics({ intervalMs: 2000 });
    live.record(1000, world({ 1: counts(100, 0, Array(100).fill(5)) }));
    live.record(2000, world({ 1: counts(150, 0, Array(150).fill(5)) })); // within the interval: ignored
    live.record(3000, world({ 1: counts(200, 4, [...Array(100).fill(5), ...Array(100).fill(50)]), 2: counts(10, 0, Array(10).fill(7)) }));
    const points = live.since('production', 0);
    // Release 2 was first seen at 3000: that only sets its baseline.
    expect(points).toHaveLength(1);
    expect(points[0]).toMatchObject({ ts: 3000, release: 1, intervalMs: 2000, requests: 100, errors: 4 });
    // The interval's 100 requests all took 50 ms: the first 100 (5 ms) are not in it.
    expect(points[0]!.p50Ms).toBeCloseTo(50, -1);
    expect(points[0]!.p99Ms).toBeCloseTo(50, -1);
  });

  it('skips a release with no requests in the interval, counts from zero after a router restart, and forgets old points', () => {
    const live = new LiveMetrics({ intervalMs: 1000, keepMs: 5000 });
    live.record(0, world({ 1: counts(100, 1, []) }));
    live.record(1000, world({ 1: counts(100, 1, []) }));
    expect(live.since('production', 0)).toEqual([]);
    live.record(2000, world({ 1: counts(30, 2, Array(30).fill(3)) }));
    expect(live.since('production', 0)).toMatchObject([{ ts: 2000, requests: 30, errors: 2 }]);
    live.record(9000, world({ 1: counts(40, 2, Array(40).fill(3)) }));
    expect(live.since('production', 0).map((p) => p.ts)).toEqual([9000]);
    expect(live.since('production', 9000)).toEqual([]);
    expect(live.since('staging', 0)).toEqual([]);
  });
});
