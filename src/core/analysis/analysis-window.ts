// What one release did during an analysis, and how to get it from two snapshots of
// the router's cumulative counters.

import { cloneHistogram, subtractHistograms, type LatencyHistogram } from '../latency-histogram.ts';
import type { LatencyQuantile } from './analysis-spec.ts';

export interface AnalysisWindow {
  /**
   * Answered requests since the analysis began. Always from the analysis's start,
   * never a sliding window: the sequential tests' guarantee rests on counts that
   * only grow.
   */
  requests: number;
  /**
   * Requests that failed. The router answers an unreachable backend with 502 and a
   * backend timeout with 504 and counts both under 5xx, so errors = the 5xx delta;
   * adding upstreamErrors and timeouts on top would count them twice.
   */
  errors: number;
  /** Latency of the same requests; preferred over latencyQuantilesMs. */
  latency?: LatencyHistogram;
  /** Quantiles measured elsewhere (e.g. Prometheus), when there is no histogram. */
  latencyQuantilesMs?: Partial<Record<LatencyQuantile, number>>;
  /** Average CPU of the release's instances over the window, in percent of one core. */
  cpuPercent?: number;
  /** Average resident memory per instance over the window, in MB. */
  rssMb?: number;
  /** Instance restarts during the window. */
  restarts?: number;
  /**
   * Requests past the environment's proxy.long_request (long polls, big downloads):
   * in `requests` and `errors`, not in `latency`; shown beside the verdict.
   */
  long?: { requests: number; errors: number };
}

/** The part of the router's per-release counters analysis reads; router-stats' ReleaseStatsJson fits it. */
export interface ReleaseCountsSnapshot {
  requests: number;
  status: { '5xx': number };
  latency: LatencyHistogram;
  /** Absent from routers before long requests were counted apart. */
  long?: { requests: number; errors: number };
}

export interface WindowFromSnapshotsInput {
  /** Counters when the analysis began; null if the release had none yet. */
  start: ReleaseCountsSnapshot | null;
  now: ReleaseCountsSnapshot;
  gauges?: Pick<AnalysisWindow, 'cpuPercent' | 'rssMb' | 'restarts'>;
}

/**
 * The window between two snapshots. If the counters went backwards the router
 * restarted in between, and `now` alone is every request since that restart (the
 * same rule subtractHistograms applies).
 */
export function windowFromSnapshots({ start, now, gauges }: WindowFromSnapshotsInput): AnalysisWindow {
  const hasRestarted = start !== null && (now.requests < start.requests || now.status['5xx'] < start.status['5xx']);
  const base = start === null || hasRestarted ? null : start;
  return {
    requests: now.requests - (base?.requests ?? 0),
    errors: now.status['5xx'] - (base?.status['5xx'] ?? 0),
    latency: base === null ? cloneHistogram(now.latency) : subtractHistograms(now.latency, base.latency),
    ...(now.long === undefined ? {} : { long: { requests: now.long.requests - (base?.long?.requests ?? 0), errors: now.long.errors - (base?.long?.errors ?? 0) } }),
    ...gauges,
  };
}
