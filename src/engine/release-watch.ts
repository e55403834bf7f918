// The watch window: for `watch` after a rollout succeeds, the new stable release is
// judged against a record of the previous one (core/analysis/watch-baseline.ts says
// which) and against an absolute error-rate floor, and rolled back on a fail.
//
// A watch that ends without a verdict says so (a warning, an event, the status),
// so a release nobody could check is never taken for one that was checked.
// A watch's start and baseline are stored when it begins (store.windows): a server
// restarted during one resumes it, judging the counts since the same start (the
// router's counters outlive the server; if the router restarted too, its counts
// since then).
//
// The counts since the watch began are not all it judges: a release that goes bad
// late in a long watch is diluted by the good requests before. So it also judges
// from later starts (core/analysis watchStartOffsets: up to six, evenly spaced),
// each kept as the release's counters at that moment, with the false-alarm rate
// shared among them; a fail from any start rolls back.

import {
  chooseWatchBaseline, DEFAULT_WATCH_MAX_ERROR_RATE, evaluateAnalysis, watchSpec, watchStartOffsets, watchStartSpec, windowFromSnapshots,
  type AnalysisDecision, type AnalysisResult, type AnalysisSpec, type AnalysisWindow, type ReleaseCountsSnapshot, type WatchBaseline, type WatchBaselineKind,
} from '../core/analysis/index.ts';
import type { Rollout } from '../core/rollout.ts';
import type { ReleaseRecord } from '../core/records.ts';
import type { StateStore } from '../store/state-store.ts';
import { RECENT_COUNTS_MS, type MetricsSampler } from './metrics-sampler.ts';
import type { PrometheusChecks } from './prometheus-checks.ts';
import type { Clock } from './ports.ts';

export type WatchState = 'watching' | 'passed' | 'rolled_back' | 'inconclusive';

/** A watch as status and the dashboard show it. */
export interface WatchView {
  rolloutId: number;
  release: number;
  previous: number;
  state: WatchState;
  startedAt: number;
  until: number;
  baseline: { kind: WatchBaselineKind; description: string };
  /** The absolute floor: more 5xx than this share fails the release whatever the baseline (1 = off). */
  maxErrorRate: number;
  decision: AnalysisDecision | null;
  reason: string | null;
}

export interface WatchActions {
  rollBack(env: string, rolloutId: number, toReleaseId: number, reason: string, result: AnalysisResult): void;
  record(rolloutId: number, level: 'info' | 'warn' | 'error', message: string, data?: Record<string, unknown>): void;
  /** A watch began, passed or ended without a verdict: for events and notifications. */
  watchEvent(env: string, view: WatchView, level: 'info' | 'warn'): void;
  /** Says a decision when it changes (the monitor's announce). */
  announce(rolloutId: number, what: string, result: AnalysisResult): void;
}

interface Watch {
  env: string;
  newReleaseId: number;
  previousReleaseId: number;
  newStart: ReleaseCountsSnapshot | null;
  /** The release's counters at each later start reached so far (absent in watches a server before this one stored). */
  laterStarts?: { at: number; counts: ReleaseCountsSnapshot }[];
  spec: AnalysisSpec;
  baseline: WatchBaseline;
  view: WatchView;
}

const NO_FIGURES: AnalysisResult = { decision: 'inconclusive', checks: [], reason: 'no figures from the router for the watched release' };

export class ReleaseWatches {
  private readonly watches = new Map<string, Watch>();
  /** The last finished watch of each environment, for status. */
  private readonly finished = new Map<string, WatchView>();

  constructor(private readonly deps: {
    store: StateStore; sampler: MetricsSampler; clock: Clock; prometheus: PrometheusChecks; actions: WatchActions;
    /** The previous release's counters when the rollout's own analysis began, if it saw the rollout. */
    stableAtRolloutStart(rolloutId: number): ReleaseCountsSnapshot | null;
    /** Traffic that slipway's router does not carry (a cluster's Gateway): only Prometheus can judge. */
    bypassesRouter(releaseId: number): boolean;
  }) {}

  /** Takes back the watches a previous server had under way (their end time is kept: a restart does not lengthen one). */
  resume(): void {
    for (const row of this.deps.store.windows.all()) {
      if (!row.key.startsWith('watch:')) continue;
      const w = row.data as Watch;
      if (w?.view?.state === 'watching' && typeof w.newReleaseId === 'number') {
        this.watches.set(w.env, w);
        this.deps.actions.record(w.view.rolloutId, 'info', `resumed watching ${w.env}#${w.view.release} after a restart of the server (until ${new Date(w.view.until).toISOString()})`);
      } else this.deps.store.windows.drop(row.key);
    }
  }

  isWatching(rolloutId: number): boolean {
    return [...this.watches.values()].some((w) => w.view.rolloutId === rolloutId);
  }

  /** The environment's watch under way, else its last one. */
  view(env: string): WatchView | null {
    return this.watches.get(env)?.view ?? this.finished.get(env) ?? null;
  }

  /** Starts watching a release that has just become stable. */
  start(r: Rollout): void {
    const { store, sampler, clock } = this.deps;
    const release = store.getRelease(r.toReleaseId);
    const previous = r.fromReleaseId === null ? null : store.getRelease(r.fromReleaseId);
    if (!release || !previous || release.config.environment.watchMs <= 0) return;
    if (r.kind === 'rollback') {
      // Rolling back a rollback would swing between two releases; a person decides.
      this.deps.actions.record(r.id, 'info', `not watching ${r.env}#${release.number}: a rollback is not rolled back by itself`);
      return;
    }
    const now = clock.now();
    const maxErrorRate = release.config.environment.watchMaxErrorRate ?? DEFAULT_WATCH_MAX_ERROR_RATE;
    const spec = watchSpec(release.config.environment.analysis.spec, maxErrorRate);
    const before = this.beforeRollout(r.env, previous.number, r.createdAt);
    const baseline = chooseWatchBaseline({
      previousNumber: previous.number, duringRollout: this.duringRollout(r, previous.number), beforeRollout: before?.window ?? null,
      beforeSpanMs: before?.spanMs ?? 0, minRequests: spec.minRequests,
    });
    const view: WatchView = {
      rolloutId: r.id, release: release.number, previous: previous.number, state: 'watching', startedAt: now, until: now + release.config.environment.watchMs,
      baseline: { kind: baseline.kind, description: baseline.description }, maxErrorRate, decision: null, reason: null,
    };
    const watch: Watch = { env: r.env, newReleaseId: release.id, previousReleaseId: previous.id, newStart: sampler.snapshot(r.env, release.number), spec, baseline, view };
    this.watches.set(r.env, watch);
    this.store(watch);
    this.finished.delete(r.env);
    const floor = maxErrorRate < 1 ? `; more than ${pct(maxErrorRate)} errors fails it whatever the baseline` : '';
    this.deps.actions.record(r.id, 'info', `watching ${r.env}#${release.number} for ${Math.round(release.config.environment.watchMs / 1000)}s against ${baseline.description}${floor}`, { watch: view });
    if (baseline.kind === 'none' && !this.deps.bypassesRouter(release.id)) {
      this.deps.actions.record(r.id, 'warn', `no baseline for the watch of ${r.env}#${release.number}: only the error-rate floor can roll it back`);
    }
    this.deps.actions.watchEvent(r.env, view, 'info');
  }

  tick(): void {
    for (const w of [...this.watches.values()]) this.check(w);
  }

  private check(w: Watch): void {
    const { store, clock } = this.deps;
    const release = store.getRelease(w.newReleaseId);
    if (!release || store.getStableReleaseId(w.env) !== w.newReleaseId || store.activeRollout(w.env)) {
      this.watches.delete(w.env); // something else moved the environment on
      store.windows.drop(`watch:${w.env}`);
      return;
    }
    // No figures from the router (it is down, or never counted the release): a watch
    // past its end still ends, and says it could not judge.
    const result = this.judge(w, release) ?? (clock.now() >= w.view.until ? NO_FIGURES : null);
    if (!result) return;
    w.view.decision = result.decision;
    w.view.reason = result.reason;
    this.deps.actions.announce(w.view.rolloutId, 'watch', result);
    if (result.decision === 'fail') {
      this.end(w, 'rolled_back');
      this.deps.actions.rollBack(w.env, w.view.rolloutId, w.previousReleaseId, `regression during the watch window: ${result.reason} (baseline: ${w.baseline.description})`, result);
    } else if (clock.now() >= w.view.until) {
      if (result.decision === 'inconclusive') {
        this.end(w, 'inconclusive');
        this.deps.actions.record(w.view.rolloutId, 'warn', `watch window over without a verdict: ${w.env}#${release.number} stays stable but was not proven healthy (${result.reason}; baseline: ${w.baseline.description})`, { watch: w.view });
        this.deps.actions.watchEvent(w.env, w.view, 'warn');
      } else {
        this.end(w, 'passed');
        this.deps.actions.record(w.view.rolloutId, 'info', `watch window over: ${w.env}#${release.number} showed no regression`, { watch: w.view });
        this.deps.actions.watchEvent(w.env, w.view, 'info');
      }
    }
  }

  private judge(w: Watch, release: ReleaseRecord): AnalysisResult | null {
    const analysis = release.config.environment.analysis;
    if (this.deps.bypassesRouter(release.id)) {
      const none: AnalysisResult = { decision: 'pass', checks: [], reason: 'no router figures: traffic goes through the cluster\'s Gateway' };
      return this.deps.prometheus.addTo(none, analysis, w.view.startedAt);
    }
    const snap = this.deps.sampler.snapshot(w.env, release.number);
    if (!snap) return null;
    const offsets = watchStartOffsets(w.view.until - w.view.startedAt);
    const later = (w.laterStarts ??= []);
    const due = offsets[later.length + 1];
    if (due !== undefined && this.deps.clock.now() >= w.view.startedAt + due) {
      later.push({ at: this.deps.clock.now(), counts: snap });
      this.store(w);
    }
    const spec = watchStartSpec(w.spec, offsets.length);
    const gauges = this.deps.sampler.gaugesOf(w.env, release.number);
    const newWindow = windowFromSnapshots({
      start: w.newStart, now: snap,
      gauges: { ...(gauges ? { cpuPercent: gauges.cpuPercent, rssMb: gauges.rssMb } : {}), restarts: restartsSince(this.deps.store, release.env, release.id, w.view.startedAt) },
    });
    const whole = evaluateAnalysis({ spec, newWindow, stableWindow: w.baseline.window });
    // A fail since a later start is the verdict, named with its start; otherwise the
    // whole watch's result (pass or inconclusive) stands.
    let result = whole;
    if (whole.decision !== 'fail') {
      for (const start of later) {
        const since = evaluateAnalysis({ spec, newWindow: windowFromSnapshots({ start: start.counts, now: snap }), stableWindow: w.baseline.window });
        if (since.decision !== 'fail') continue;
        result = { ...since, reason: `${since.reason}, in the requests since ${Math.round((start.at - w.view.startedAt) / 1000)}s into the watch` };
        break;
      }
    }
    return this.deps.prometheus.addTo(result, analysis, w.view.startedAt);
  }

  /** Keeps the watch in the state database, so a restarted server resumes it as it was. */
  private store(w: Watch): void {
    this.deps.store.windows.save({ key: `watch:${w.env}`, env: w.env, rolloutId: w.view.rolloutId, data: w }, this.deps.clock.now());
  }

  private end(w: Watch, state: WatchState): void {
    w.view.state = state;
    this.watches.delete(w.env);
    this.deps.store.windows.drop(`watch:${w.env}`);
    this.finished.set(w.env, w.view);
  }

  /** What the previous release served from the rollout's start to now (it is gone after now). */
  private duringRollout(r: Rollout, previousNumber: number): AnalysisWindow | null {
    const now = this.deps.sampler.snapshot(r.env, previousNumber);
    if (!now) return null;
    // The sample just before the rollout began is the truest start; the rollout
    // analysis's own start (up to a tick later) when that has aged out.
    const start = this.deps.sampler.snapshotAt(r.env, previousNumber, r.createdAt)?.counts ?? this.deps.stableAtRolloutStart(r.id);
    return windowFromSnapshots({ start, now });
  }

  /** What the previous release served in the kept minutes before the rollout began. */
  private beforeRollout(env: string, previousNumber: number, rolloutStart: number): { window: AnalysisWindow; spanMs: number } | null {
    const end = this.deps.sampler.snapshotAt(env, previousNumber, rolloutStart);
    const start = this.deps.sampler.firstSnapshotSince(env, previousNumber, rolloutStart - RECENT_COUNTS_MS);
    if (!end || !start || start.at >= end.at) return null;
    return { window: windowFromSnapshots({ start: start.counts, now: end.counts }), spanMs: end.at - start.at };
  }

}

/** Instances of the release that were serving and then died or went unhealthy since `since`: the rollout analysis counts them too. */
export function restartsSince(store: StateStore, env: string, releaseId: number, since: number): number {
  return store.recentInstances(env, 200).filter((i) => i.releaseId === releaseId && i.state === 'failed' && i.readyAt !== null && (i.stoppedAt ?? 0) >= since).length;
}

function pct(x: number): string {
  return `${Math.round(x * 1000) / 10}%`;
}
