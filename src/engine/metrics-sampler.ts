// Samples the router's per-release counters and the instances' CPU and memory every
// second. Analysis reads the latest snapshot; every 10 s the interval's figures are
// written to the store as the rollout's history (downsampled, kept for 7 days).

import { isDeepStrictEqual } from 'node:util';
import type { ReleaseCountsSnapshot } from '../core/analysis/index.ts';
import { histogramCount, quantileMs, subtractHistograms } from '../core/latency-histogram.ts';
import type { MetricSample } from '../core/records.ts';
import type { ShadowStatsJson } from '../core/shadow/shadow-spec.ts';
import type { StateStore } from '../store/state-store.ts';
import { handleOf, runtimeOf } from './instance-lifecycle.ts';
import type { RuntimeSet } from './runtime-set.ts';
import type { Clock, EngineLogger, Timer, TrafficRouter } from './ports.ts';

const SAMPLE_EVERY_MS = 1000;
const PERSIST_EVERY_MS = 10_000;
const KEEP_HISTORY_MS = 7 * 24 * 3600_000;
/** How far back the in-memory counters reach: the watch's record of a release from before a rollout. */
export const RECENT_COUNTS_MS = 5 * 60_000;

export interface ReleaseGauges {
  /** Mean CPU of the release's ready instances, in percent of one core. */
  cpuPercent: number;
  /** Mean resident memory per ready instance, in MB. */
  rssMb: number;
}

export class MetricsSampler {
  private timer: Timer | null = null;
  /** env → release number (as the router labels it) → cumulative counters. */
  private latest = new Map<string, Map<string, ReleaseCountsSnapshot>>();
  /** Every sample of the last RECENT_COUNTS_MS, oldest first: env → release → counts at `at`. */
  private recent: { at: number; environments: Map<string, Map<string, ReleaseCountsSnapshot>> }[] = [];
  private gauges = new Map<string, Map<string, ReleaseGauges>>();
  private lastCpu = new Map<string, { cpuSeconds: number; at: number }>();
  private persisted = new Map<string, ReleaseCountsSnapshot>();
  private lastPersistAt = 0;
  private sampling = false;
  private listeners: (() => void)[] = [];
  /** env → its last shadow step's figures, and when they were read. */
  private shadow = new Map<string, { at: number; stats: ShadowStatsJson }>();
  /** env → requests picked for recording by outcome (kept, too_large, …), cumulative, as last sampled. */
  private recorded: ReadonlyMap<string, Readonly<Record<string, number>>> = new Map();

  constructor(private readonly deps: { store: StateStore; router: TrafficRouter; runtimes: RuntimeSet; clock: Clock; log: EngineLogger }) {}

  start(): void {
    this.timer ??= this.deps.clock.setInterval(() => void this.sample(), SAMPLE_EVERY_MS);
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  /** Called after each sample (the analysis runs on fresh figures). */
  onSample(fn: () => void): void {
    this.listeners.push(fn);
  }

  snapshot(env: string, release: number): ReleaseCountsSnapshot | null {
    return this.latest.get(env)?.get(String(release)) ?? null;
  }

  /** Every release's cumulative router counters as last sampled: env → release number → counts (for /metrics). */
  allSnapshots(): ReadonlyMap<string, ReadonlyMap<string, ReleaseCountsSnapshot>> {
    return this.latest;
  }

  /** The release's counters in the last sample taken at or before `at`; null if none is kept. */
  snapshotAt(env: string, release: number, at: number): { at: number; counts: ReleaseCountsSnapshot } | null {
    for (let i = this.recent.length - 1; i >= 0; i--) {
      const entry = this.recent[i]!;
      if (entry.at > at) continue;
      const counts = entry.environments.get(env)?.get(String(release));
      return counts ? { at: entry.at, counts } : null;
    }
    return null;
  }

  /** The release's counters in the first kept sample taken at or after `from` that has them. */
  firstSnapshotSince(env: string, release: number, from: number): { at: number; counts: ReleaseCountsSnapshot } | null {
    for (const entry of this.recent) {
      if (entry.at < from) continue;
      const counts = entry.environments.get(env)?.get(String(release));
      if (counts) return { at: entry.at, counts };
    }
    return null;
  }

  private keepRecent(now: number, environments: Map<string, Map<string, ReleaseCountsSnapshot>>): void {
    this.recent.push({ at: now, environments });
    const cut = this.recent.findIndex((e) => e.at >= now - RECENT_COUNTS_MS);
    if (cut > 0) this.recent.splice(0, cut);
  }

  /** The figures of the environment's last shadow step as last sampled, and when. */
  shadowOf(env: string): { at: number; stats: ShadowStatsJson } | null {
    return this.shadow.get(env) ?? null;
  }

  /** Requests picked for replay's sample, by environment and outcome, as last sampled (for /metrics); none from a router before these counts. */
  recordedCounts(): ReadonlyMap<string, Readonly<Record<string, number>>> {
    return this.recorded;
  }

  gaugesOf(env: string, release: number): ReleaseGauges | null {
    return this.gauges.get(env)?.get(String(release)) ?? null;
  }

  async sample(): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    try {
      const stats = await this.deps.router.getStats();
      const latest = new Map<string, Map<string, ReleaseCountsSnapshot>>();
      for (const [env, releases] of Object.entries(stats.environments)) {
        const before = this.latest.get(env);
        // A release whose counters did not move since the last sample (a retired one the
        // router still reports, for 10 minutes) keeps its one object: five minutes of
        // samples then cost one object per idle release, not 300.
        latest.set(env, new Map(Object.entries(releases).map(([release, counts]) => {
          const last = before?.get(release);
          return [release, last !== undefined && isDeepStrictEqual(last, counts) ? last : counts];
        })));
      }
      this.latest = latest;
      const now = this.deps.clock.now();
      this.shadow = new Map(Object.entries(stats.shadow ?? {}).map(([env, s]) => [env, { at: now, stats: s }]));
      this.recorded = new Map(Object.entries(stats.recorded ?? {}));
      this.keepRecent(now, latest);
      await this.sampleGauges();
      if (now - this.lastPersistAt >= PERSIST_EVERY_MS) {
        this.persist(now);
        this.lastPersistAt = now;
      }
      for (const fn of this.listeners) fn();
    } catch (e) {
      this.deps.log.warn({ err: (e as Error).message }, 'metrics sample failed');
    } finally {
      this.sampling = false;
    }
  }

  private async sampleGauges(): Promise<void> {
    const now = this.deps.clock.now();
    const sums = new Map<string, { cpu: number; rss: number; n: number }>();
    const ready = this.deps.store.liveInstances().filter((i) => i.state === 'ready' && handleOf(i) !== null);
    // An instance that is no longer ready is never read again: forget its last reading.
    const readyIds = new Set(ready.map((i) => i.id));
    for (const id of this.lastCpu.keys()) if (!readyIds.has(id)) this.lastCpu.delete(id);
    // Asked together: a container runtime answers each over its engine's socket.
    const usages = await Promise.all(ready.map((i) => runtimeOf(this.deps, i).usage(handleOf(i)!).catch(() => null)));
    for (const [n, i] of ready.entries()) {
      const usage = usages[n];
      if (!usage) continue;
      const prev = this.lastCpu.get(i.id);
      this.lastCpu.set(i.id, { cpuSeconds: usage.cpuSeconds, at: now });
      if (!prev || now <= prev.at) continue;
      const cpuPercent = ((usage.cpuSeconds - prev.cpuSeconds) / ((now - prev.at) / 1000)) * 100;
      const release = this.deps.store.getRelease(i.releaseId);
      if (!release) continue;
      const key = `${i.env}\u0000${release.number}`;
      const s = sums.get(key) ?? { cpu: 0, rss: 0, n: 0 };
      s.cpu += Math.max(0, cpuPercent);
      s.rss += usage.rssBytes / (1024 * 1024);
      s.n++;
      sums.set(key, s);
    }
    const gauges = new Map<string, Map<string, ReleaseGauges>>();
    for (const [key, s] of sums) {
      const [env, release] = key.split('\u0000') as [string, string];
      const m = gauges.get(env) ?? new Map<string, ReleaseGauges>();
      m.set(release, { cpuPercent: s.cpu / s.n, rssMb: s.rss / s.n });
      gauges.set(env, m);
    }
    this.gauges = gauges;
  }

  /** The figures of each release over the last persist interval. */
  private persist(now: number): void {
    const rows: MetricSample[] = [];
    // A release the router no longer counts (long unrouted) starts from zero if it comes back.
    for (const key of this.persisted.keys()) {
      const [env, release] = key.split('\u0000') as [string, string];
      if (!this.latest.get(env)?.has(release)) this.persisted.delete(key);
    }
    for (const [env, releases] of this.latest) {
      for (const [release, snap] of releases) {
        const key = `${env}\u0000${release}`;
        const prev = this.persisted.get(key);
        this.persisted.set(key, snap);
        const restarted = prev !== undefined && snap.requests < prev.requests;
        const base = prev === undefined || restarted ? null : prev;
        const requests = snap.requests - (base?.requests ?? 0);
        if (requests === 0 && base !== null) continue;
        const latency = base ? subtractHistograms(snap.latency, base.latency) : snap.latency;
        const has = histogramCount(latency) > 0;
        const g = this.gauges.get(env)?.get(release) ?? null;
        rows.push({
          env, release: Number(release), ts: now, requests, errors: snap.status['5xx'] - (base?.status['5xx'] ?? 0),
          p50Ms: has ? quantileMs(latency, 0.5) : null, p90Ms: has ? quantileMs(latency, 0.9) : null, p99Ms: has ? quantileMs(latency, 0.99) : null,
          cpuPercent: g?.cpuPercent ?? null, rssMb: g?.rssMb ?? null,
        });
      }
    }
    if (rows.length) this.deps.store.addMetricSamples(rows);
    this.deps.store.pruneMetricSamples(now - KEEP_HISTORY_MS);
  }
}
