// Watches every rollout with the statistics of core/analysis: each second it
// compares the new release with the stable one over the same window (counts since
// the rollout, or the analysis step, began) and stops a bad release on its own. It
// also answers analysis steps, and hands a succeeded rollout to the watch window
// (release-watch.ts), which rolls a regression back.
//
// Each window's start (the router's counters when it began) is stored when the
// window opens: after a server restart the analysis goes on from the same start,
// with the evidence gathered before the crash, and the sequential tests' guarantee
// holds (they need counts that only grow from a start; a router restarted too is
// seen as counters going down, and its counts are taken from zero).

import { routerCarriesTraffic } from '../core/traffic-path.ts';
import { evaluateAnalysis, windowFromSnapshots, type AnalysisResult, type ReleaseCountsSnapshot } from '../core/analysis/index.ts';
import { createHistogram } from '../core/latency-histogram.ts';
import { currentStep, type Rollout } from '../core/rollout.ts';
import type { AnalysisConfig } from '../core/service-config.ts';
import type { StateStore } from '../store/state-store.ts';
import type { MetricsSampler } from './metrics-sampler.ts';
import type { Clock, EngineLogger } from './ports.ts';
import { PrometheusChecks } from './prometheus-checks.ts';
import { ReleaseWatches, restartsSince, type WatchView } from './release-watch.ts';


interface Baseline {
  startedAt: number;
  newSnap: ReleaseCountsSnapshot | null;
  stableSnap: ReleaseCountsSnapshot | null;
}

export interface AnalysisActions {
  /** The rollout must stop: abort it, sending all traffic back to stable. */
  abort(env: string, rolloutId: number, reason: string, result: AnalysisResult): void;
  /** A succeeded release regressed during its watch window: roll back to `toReleaseId`. */
  rollBack(env: string, rolloutId: number, toReleaseId: number, reason: string, result: AnalysisResult): void;
  record(rolloutId: number, level: 'info' | 'warn' | 'error', message: string, data?: Record<string, unknown>): void;
  /** A watch window began, passed, or ended without a verdict. */
  watchEvent?(env: string, view: WatchView, level: 'info' | 'warn'): void;
  /** A decision that changed (the same moments as `record`'s analysis lines): for events and metrics. */
  result?(rolloutId: number, what: string, result: AnalysisResult): void;
}

export class AnalysisMonitor {
  private readonly rollouts = new Map<number, Baseline>();
  private readonly steps = new Map<string, { base: Baseline; result: AnalysisResult | null }>();
  private readonly latest = new Map<number, { env: string; result: AnalysisResult }>();
  private readonly said = new Map<string, string>();
  private readonly prometheus: PrometheusChecks;
  private readonly watches: ReleaseWatches;

  constructor(private readonly deps: { store: StateStore; sampler: MetricsSampler; clock: Clock; log: EngineLogger; actions: AnalysisActions }) {
    this.prometheus = new PrometheusChecks(deps.clock);
    this.watches = new ReleaseWatches({
      store: deps.store, sampler: deps.sampler, clock: deps.clock, prometheus: this.prometheus,
      stableAtRolloutStart: (id) => this.rollouts.get(id)?.stableSnap ?? null,
      bypassesRouter: (id) => this.trafficBypassesRouter(id),
      actions: {
        rollBack: (...a) => deps.actions.rollBack(...a),
        record: (...a) => deps.actions.record(...a),
        watchEvent: (...a) => deps.actions.watchEvent?.(...a),
        announce: (...a) => this.announce(...a),
      },
    });
  }

  /** Takes back the windows a previous server had open: rollout and step analyses, watches. */
  resume(): void {
    for (const row of this.deps.store.windows.all()) {
      const base = row.data as Baseline;
      if (row.key.startsWith('rollout:')) this.rollouts.set(row.rolloutId, base);
      else if (row.key.startsWith('step:')) this.steps.set(row.key.slice('step:'.length), { base, result: null });
    }
    this.watches.resume();
  }

  /** The environment's watch window under way, else its last one. */
  watchView(env: string): WatchView | null {
    return this.watches.view(env);
  }

  /** The latest background analysis of a rollout, for status and the API. */
  latestResult(rolloutId: number): AnalysisResult | null {
    return this.latest.get(rolloutId)?.result ?? null;
  }

  /** The verdict on the analysis step a rollout is at (null before the first sample). */
  stepVerdict(r: Rollout): AnalysisResult | null {
    return this.steps.get(`${r.id}:${r.stepIndex}`)?.result ?? null;
  }

  /** Starts the post-rollout watch of a release that has just become stable. */
  startWatch(r: Rollout): void {
    this.watches.start(r);
  }

  tick(): void {
    const active = this.deps.store.activeRollouts();
    const activeIds = new Set(active.map((r) => r.id));
    for (const id of this.rollouts.keys()) {
      if (activeIds.has(id) || this.watches.isWatching(id)) continue;
      this.rollouts.delete(id);
      this.deps.store.windows.drop(`rollout:${id}`);
    }
    for (const key of this.steps.keys()) {
      if (activeIds.has(Number(key.split(':')[0]))) continue;
      this.steps.delete(key);
      this.deps.store.windows.drop(`step:${key}`);
    }
    for (const key of this.said.keys()) {
      const id = Number(key.split(':')[0]);
      if (!activeIds.has(id) && !this.watches.isWatching(id)) this.said.delete(key);
    }
    // Status shows the latest analysis of each environment's last rollout; older ones are never read.
    const newest = new Map<string, number>();
    for (const [id, l] of this.latest) newest.set(l.env, Math.max(id, newest.get(l.env) ?? 0));
    for (const [id, l] of this.latest) if (newest.get(l.env) !== id) this.latest.delete(id);
    for (const r of active) this.checkRollout(r);
    this.watches.tick();
  }

  private checkRollout(r: Rollout): void {
    if (r.phase === 'aborting' || r.fromReleaseId === null) return;
    const store = this.deps.store;
    const [newRelease, stable] = [store.getRelease(r.toReleaseId), store.getRelease(r.fromReleaseId)];
    if (!newRelease || !stable) return;
    let base = this.rollouts.get(r.id);
    if (!base) {
      base = this.baselineNow(r.env, newRelease.number, stable.number);
      this.rollouts.set(r.id, base);
      store.windows.save({ key: `rollout:${r.id}`, env: r.env, rolloutId: r.id, data: base }, base.startedAt);
    }
    const background = this.evaluate(newRelease.config.environment.analysis, r, base, newRelease.number, stable.number);
    this.latest.set(r.id, { env: r.env, result: background });
    this.announce(r.id, 'rollout', background);
    if (background.decision === 'fail') {
      this.deps.actions.abort(r.env, r.id, `analysis failed: ${background.reason}`, background);
      return;
    }
    const step = currentStep(r);
    if (step?.type === 'analysis' && r.phase === 'progressing') {
      const key = `${r.id}:${r.stepIndex}`;
      let entry = this.steps.get(key);
      if (!entry) {
        entry = { base: this.baselineNow(r.env, newRelease.number, stable.number), result: null };
        store.windows.save({ key: `step:${key}`, env: r.env, rolloutId: r.id, data: entry.base }, entry.base.startedAt);
      }
      entry.result = this.evaluate(step.analysis, r, entry.base, newRelease.number, stable.number);
      this.steps.set(key, entry);
      this.announce(r.id, `step ${r.stepIndex + 1}`, entry.result);
    }
  }

  private baselineNow(env: string, newNumber: number, stableNumber: number): Baseline {
    return { startedAt: this.deps.clock.now(), newSnap: this.deps.sampler.snapshot(env, newNumber), stableSnap: this.deps.sampler.snapshot(env, stableNumber) };
  }

  private evaluate(config: AnalysisConfig, r: Rollout, base: Baseline, newNumber: number, stableNumber: number): AnalysisResult {
    if (this.trafficBypassesRouter(r.toReleaseId)) return this.prometheusOnly(config, base.startedAt);
    const empty: ReleaseCountsSnapshot = { requests: 0, status: { '5xx': 0 }, latency: createHistogram() };
    const newSnap = this.deps.sampler.snapshot(r.env, newNumber) ?? base.newSnap ?? empty;
    const stableSnap = this.deps.sampler.snapshot(r.env, stableNumber) ?? base.stableSnap ?? empty;
    const ng = this.deps.sampler.gaugesOf(r.env, newNumber);
    const sg = this.deps.sampler.gaugesOf(r.env, stableNumber);
    const newWindow = windowFromSnapshots({
      start: base.newSnap, now: newSnap,
      gauges: { ...(ng ? { cpuPercent: ng.cpuPercent, rssMb: ng.rssMb } : {}), restarts: restartsSince(this.deps.store, r.env, r.toReleaseId, base.startedAt) },
    });
    const stableWindow = windowFromSnapshots({ start: base.stableSnap, now: stableSnap, gauges: sg ? { cpuPercent: sg.cpuPercent, rssMb: sg.rssMb } : {} });
    return this.prometheus.addTo(evaluateAnalysis({ spec: config.spec, newWindow, stableWindow }), config, base.startedAt);
  }


  /** When something else carries the requests (a cluster's Gateway), slipway's router counts none of them. */
  private trafficBypassesRouter(releaseId: number): boolean {
    const env = this.deps.store.getRelease(releaseId)?.config.environment;
    return env !== undefined && !routerCarriesTraffic(env);
  }

  /** Only the Prometheus checks can judge; with none, there is nothing to fail (config validation asks for them). */
  private prometheusOnly(config: AnalysisConfig, since: number): AnalysisResult {
    return this.prometheus.addTo({ decision: 'pass', checks: [], reason: 'no router figures: traffic goes through the cluster\'s Gateway' }, config, since);
  }

  /** Records a decision when it changes, with the figures behind it. */
  private announce(rolloutId: number, what: string, result: AnalysisResult): void {
    const key = `${rolloutId}:${what}`;
    if (this.said.get(key) === result.decision) return;
    this.said.set(key, result.decision);
    if (result.decision === 'inconclusive' && !this.said.has(`${key}:seen`)) {
      this.said.set(`${key}:seen`, 'x');
      return; // the first inconclusive is the normal start of every analysis
    }
    const level = result.decision === 'fail' ? 'error' : 'info';
    this.deps.actions.record(rolloutId, level, `analysis (${what}): ${result.decision}: ${result.reason}`, { analysis: what, decision: result.decision, checks: result.checks });
    this.deps.actions.result?.(rolloutId, what, result);
  }
}
