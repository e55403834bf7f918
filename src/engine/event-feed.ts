// Turns what the engine records (rollout transitions, analysis decisions,
// automatic rollbacks) into published events: the one place that knows which
// change of a rollout is which event. Publishing only writes a row and wakes
// in-process subscribers, so nothing here can hold a rollout up.

import type { AnalysisResult } from '../core/analysis/index.ts';
import { describeStep } from '../core/plans.ts';
import { activeSteps, type Rollout, type RolloutEvent } from '../core/rollout.ts';
import type { EventBus } from '../observe/event-bus.ts';
import type { StateStore } from '../store/state-store.ts';
import type { Clock } from './ports.ts';
import type { WatchView } from './release-watch.ts';

export class EventFeed {
  constructor(private readonly deps: { store: StateStore; bus: EventBus; clock: Clock }) {}

  private releaseName(id: number | null): string {
    if (id === null) return 'none';
    const r = this.deps.store.getRelease(id);
    return r ? `${r.env}#${r.number}` : `release ${id}`;
  }

  private base(r: Rollout) {
    const to = this.deps.store.getRelease(r.toReleaseId);
    const from = r.fromReleaseId === null ? null : this.deps.store.getRelease(r.fromReleaseId);
    return {
      rollout: r.id, kind: r.kind, phase: r.phase, release: to?.number ?? null, stableRelease: from?.number ?? null,
      strategy: to?.config.environment.strategy.type ?? null, service: to?.service ?? null,
    };
  }

  transition(prev: Rollout, next: Rollout, e: RolloutEvent): void {
    const publish = (type: Parameters<EventBus['publish']>[0]['type'], level: 'info' | 'warn' | 'error', message: string, extra: Record<string, unknown> = {}) =>
      this.deps.bus.publish({ type, env: next.env, rolloutId: next.id, level, message, data: { ...this.base(next), ...extra } });
    const name = this.releaseName(next.toReleaseId);
    if (prev.phase === 'pending' && next.phase === 'progressing') {
      publish('rollout.started', 'info', `${next.kind} of ${name} started (${next.plan.steps.length} steps, by ${next.createdBy})`, { by: next.createdBy, steps: next.plan.steps.length });
    }
    if (e.type === 'step-done' && (next.stepIndex !== prev.stepIndex || next.phase !== prev.phase)) {
      const steps = activeSteps(prev);
      const step = steps[e.index];
      const durationMs = prev.stepStartedAt === null ? null : Math.max(0, this.deps.clock.now() - prev.stepStartedAt);
      publish('rollout.step', 'info', `${name}: ${prev.phase === 'aborting' ? 'restoring' : 'step'} ${e.index + 1}/${steps.length} done${step ? `: ${describeStep(step, (id) => this.releaseName(id))}` : ''}`, {
        step: e.index, steps: steps.length, stepType: step?.type ?? null, durationMs, during: prev.phase,
      });
    }
    if (next.phase === prev.phase) return;
    switch (next.phase) {
      case 'paused':
        publish('rollout.paused', 'info', `${name}: rollout paused${'by' in e ? ` by ${e.by}` : ''}`);
        break;
      case 'progressing':
        if (prev.phase === 'paused') publish('rollout.resumed', 'info', `${name}: rollout resumed${'by' in e ? ` by ${e.by}` : ''}`);
        break;
      case 'aborting': {
        const automatic = e.type === 'step-failed' || (e.type === 'abort' && e.cause === 'failure');
        publish('rollout.aborting', 'warn', `${name}: rolling back to ${this.releaseName(next.fromReleaseId)}: ${next.reason ?? ''}`.trim(), { reason: next.reason, automatic });
        break;
      }
      case 'succeeded':
        publish('rollout.succeeded', 'info', `${name} is now stable (${next.kind} succeeded)`, { durationMs: (next.finishedAt ?? this.deps.clock.now()) - next.createdAt });
        break;
      case 'rolled_back':
      case 'failed':
        publish(next.phase === 'failed' ? 'rollout.failed' : 'rollout.rolled_back', 'error',
          `${name}: rollout ${next.phase === 'failed' ? 'failed' : 'rolled back'}; ${this.releaseName(next.fromReleaseId)} serves${next.reason ? ` (${next.reason})` : ''}`,
          { reason: next.reason, durationMs: (next.finishedAt ?? this.deps.clock.now()) - next.createdAt });
        break;
      case 'pending':
        break;
    }
  }

  analysis(rolloutId: number, what: string, result: AnalysisResult): void {
    const r = this.deps.store.getRollout(rolloutId);
    if (!r) return;
    this.deps.bus.publish({
      type: 'analysis.result', env: r.env, rolloutId, level: result.decision === 'fail' ? 'error' : 'info',
      message: `${this.releaseName(r.toReleaseId)}: analysis (${what}) ${result.decision}: ${result.reason}`,
      data: { ...this.base(r), analysis: what, decision: result.decision, reason: result.reason, checks: result.checks },
    });
  }

  /** A watch window began, passed, or ended without a verdict (a rolled-back one is rollback.automatic). */
  watch(env: string, view: WatchView, level: 'info' | 'warn'): void {
    const r = this.deps.store.getRollout(view.rolloutId);
    const name = `${env}#${view.release}`;
    const type = view.state === 'watching' ? 'watch.started' : view.state === 'passed' ? 'watch.passed' : 'watch.inconclusive';
    const message = view.state === 'watching'
      ? `${name}: watching for ${Math.round((view.until - view.startedAt) / 1000)}s against ${view.baseline.description}`
      : view.state === 'passed'
        ? `${name}: watch window over, no regression`
        : `${name}: watch window over without a verdict, not proven healthy: ${view.reason ?? 'no figures'}`;
    this.deps.bus.publish({
      type, env, rolloutId: view.rolloutId, level, message,
      data: { ...(r ? this.base(r) : {}), watch: { ...view } },
    });
  }

  automaticRollback(env: string, rolloutId: number, reason: string, toReleaseId: number | null): void {
    const r = this.deps.store.getRollout(rolloutId);
    this.deps.bus.publish({
      type: 'rollback.automatic', env, rolloutId, level: 'error',
      message: `${env}: automatic rollback${toReleaseId !== null ? ` to ${this.releaseName(toReleaseId)}` : ''}: ${reason}`,
      data: { ...(r ? this.base(r) : {}), reason, to: toReleaseId === null ? null : this.deps.store.getRelease(toReleaseId)?.number ?? null },
    });
  }
}
