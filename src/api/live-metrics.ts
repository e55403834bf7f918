// The dashboard's live figures: every couple of seconds, each release's requests,
// errors and latency quantiles over the interval just ended, kept in memory for the
// last minutes. The store's history (metric_samples) has one row per 10 s, too coarse
// for a chart that should move while someone watches a canary.

import type { ReleaseCountsSnapshot } from '../core/analysis/index.ts';
import { histogramCount, quantileMs, subtractHistograms } from '../core/latency-histogram.ts';

export interface LivePoint {
  /** End of the interval, epoch ms. */
  ts: number;
  release: number;
  intervalMs: number;
  requests: number;
  /** 5xx answers. */
  errors: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

export interface LiveMetricsOptions {
  /** Length of one point's interval (default 2 s). */
  intervalMs?: number;
  /** How far back points are kept (default 15 min). */
  keepMs?: number;
}

export class LiveMetrics {
  private readonly intervalMs: number;
  private readonly keepMs: number;
  /** env → points, oldest first. */
  private readonly points = new Map<string, LivePoint[]>();
  /** env\0release → the counters at the start of the current interval. */
  private readonly base = new Map<string, ReleaseCountsSnapshot>();
  private lastAt: number | null = null;

  constructor(o: LiveMetricsOptions = {}) {
    this.intervalMs = o.intervalMs ?? 2000;
    this.keepMs = o.keepMs ?? 15 * 60_000;
  }

  /** Feeds the router's cumulative counters (env → release → counters) as of `now`. */
  record(now: number, snapshots: ReadonlyMap<string, ReadonlyMap<string, ReleaseCountsSnapshot>>): void {
    if (this.lastAt !== null && now - this.lastAt < this.intervalMs) return;
    const elapsedMs = this.lastAt === null ? 0 : now - this.lastAt;
    this.lastAt = now;
    for (const [env, releases] of snapshots) {
      const list = this.points.get(env) ?? [];
      for (const [release, snap] of releases) {
        const key = `${env}\u0000${release}`;
        const prev = this.base.get(key);
        this.base.set(key, snap);
        // The first sight of a release only sets its baseline: its counters may span hours.
        if (!prev || elapsedMs === 0) continue;
        const hasRestarted = snap.requests < prev.requests || snap.status['5xx'] < prev.status['5xx'];
        const requests = hasRestarted ? snap.requests : snap.requests - prev.requests;
        if (requests === 0) continue;
        const latency = hasRestarted ? snap.latency : subtractHistograms(snap.latency, prev.latency);
        const has = histogramCount(latency) > 0;
        list.push({
          ts: now, release: Number(release), intervalMs: elapsedMs, requests,
          errors: hasRestarted ? snap.status['5xx'] : snap.status['5xx'] - prev.status['5xx'],
          p50Ms: has ? quantileMs(latency, 0.5) : null, p99Ms: has ? quantileMs(latency, 0.99) : null,
        });
      }
      const cutoff = now - this.keepMs;
      let drop = 0;
      while (drop < list.length && list[drop]!.ts < cutoff) drop++;
      if (drop) list.splice(0, drop);
      this.points.set(env, list);
    }
  }

  /** The points of `env` after `afterTs`, oldest first. */
  since(env: string, afterTs: number): LivePoint[] {
    return (this.points.get(env) ?? []).filter((p) => p.ts > afterTs);
  }

  get pointIntervalMs(): number {
    return this.intervalMs;
  }
}
