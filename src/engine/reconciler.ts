// The reconciler: one loop per environment, level-triggered. Each pass reads the
// recorded state, does the next idempotent action of the active rollout's current
// step (or, with no rollout, keeps the stable release at its size), and records the
// outcome before going on. A restarted server simply runs the passes again.

import { SlipwayError } from '../core/errors.ts';
import type { AnalysisResult } from '../core/analysis/index.ts';
import type { ShadowVerdict } from '../core/shadow/shadow-verdict.ts';
import { describeStep, type Step } from '../core/plans.ts';
import { activeSteps, currentStep, isTerminal, transition, type Rollout, type RolloutEvent } from '../core/rollout.ts';
import type { StateStore } from '../store/state-store.ts';
import type { FleetSet } from './fleet-set.ts';
import type { Clock, EngineLogger, ScaleOutcome, Timer } from './ports.ts';

export interface ReconcilerDeps {
  store: StateStore;
  /** What runs each release (by its runtime): scale steps and the stable release's upkeep go there. */
  fleets: FleetSet;
  clock: Clock;
  log: EngineLogger;
  recordEvent(rolloutId: number, level: 'info' | 'warn' | 'error', message: string, data?: Record<string, unknown>): void;
  /** Tells whoever splits the environment's traffic (the router, a cluster's HTTPRoute) what the records say now. */
  pushRoutes(env: string): Promise<void>;
  /**
   * Checks that the router still runs the table last sent, and sends it again if
   * not (RouteSync.checkDrift: coalesced over all environments, never rejects).
   */
  checkRoutes?(): Promise<unknown>;
  /** The verdict on a shadow step that ended at `endsAt`; null while the router's figures since then are not in. */
  shadowVerdict?(r: Rollout, step: Extract<Step, { type: 'shadow' }>, endsAt: number): Promise<ShadowVerdict | null>;
  /** The analysis verdict on the step a rollout is at; null before there is one. */
  stepVerdict(r: Rollout): AnalysisResult | null;
  onSucceeded(r: Rollout): void;
  /** Every recorded change of a rollout (phase or step), after it is saved: for events and metrics. */
  onTransition?(prev: Rollout, next: Rollout, e: RolloutEvent): void;
}

/** The sizes the machine needs for abort and full-promotion plans. */
export function machineContext(store: StateStore, r: Rollout) {
  const newInstances = store.getRelease(r.toReleaseId)?.config.environment.instances ?? 1;
  const stableInstances = r.fromReleaseId === null ? newInstances : store.getRelease(r.fromReleaseId)?.config.environment.instances ?? newInstances;
  return { stableInstances, newInstances };
}

/** Records an event's outcome; a rollout that succeeds makes its release stable in the same transaction. */
export function applyRolloutEvent(store: StateStore, r: Rollout, e: RolloutEvent, now: number): Rollout {
  const next = transition(r, e, now, machineContext(store, r));
  if (next === r) return r;
  store.atomically(() => {
    store.saveRollout(next);
    if (next.phase === 'succeeded') store.setStableRelease(next.env, next.toReleaseId);
  });
  return next;
}

const IDLE_TICK_MS = 1000;
const MAINTAIN_BACKOFF_MAX_MS = 30_000;

class EnvLoop {
  private wakeUp: (() => void) | null = null;
  private stopped = false;
  private maintainFailures = 0;
  private nextWakeAt = 0;
  private readonly announcedWait = new Set<string>();
  /** A rollout step that could not reach its runtime, since when: said once until the step goes on. */
  private waitingOn: { rolloutId: number; since: number; isRuntimeAway: boolean } | null = null;
  private nextMaintainAt = 0;
  readonly done: Promise<void>;

  constructor(
    readonly env: string,
    private readonly deps: ReconcilerDeps,
  ) {
    this.done = this.run();
  }

  wake(): void {
    this.wakeUp?.();
  }

  stop(): void {
    this.stopped = true;
    this.wake();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let progressed = false;
      try {
        progressed = await this.pass();
      } catch (e) {
        this.deps.log.error({ env: this.env, err: e }, 'reconcile pass failed');
      }
      if (!progressed && !this.stopped) {
        const untilTimer = this.nextWakeAt - this.deps.clock.now();
        this.nextWakeAt = 0;
        await this.sleep(untilTimer > 0 ? Math.min(IDLE_TICK_MS, untilTimer) : IDLE_TICK_MS);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      let t: Timer | null = null;
      const done = () => {
        t?.cancel();
        resolve();
      };
      t = this.deps.clock.setTimeout(done, ms);
      this.wakeUp = done;
    });
  }

  /** One pass; true when it changed something and another pass should follow at once. */
  private async pass(): Promise<boolean> {
    // Not awaited: the comparison runs in turn with route pushes, and a slow router
    // must not hold up this environment's steps (an abort above all).
    void this.deps.checkRoutes?.();
    const rollout = this.deps.store.activeRollout(this.env);
    const routing = this.routingRelease(rollout);
    if (routing) await this.deps.fleets.of(routing).sync(this.env, rollout);
    if (rollout) return this.advance(rollout);
    await this.maintain();
    return false;
  }

  private apply(r: Rollout, e: RolloutEvent): Rollout {
    const next = applyRolloutEvent(this.deps.store, r, e, this.deps.clock.now());
    if (next !== r) this.deps.onTransition?.(r, next, e);
    return next;
  }

  /** Saves the decision, then acts on what it changed in the traffic. */
  private async applyAndRoute(r: Rollout, e: RolloutEvent): Promise<Rollout> {
    const next = this.apply(r, e);
    // The end is recorded in the same turn as the phase, so whoever sees the phase sees the event.
    if (next !== r && isTerminal(next.phase)) {
      this.announceEnd(next);
      for (const fleet of this.deps.fleets.all()) fleet.rolloutEnded(next.env);
      if (next.phase === 'succeeded') this.deps.onSucceeded(next);
    }
    if (next !== r) await this.deps.pushRoutes(r.env);
    return next;
  }

  private async advance(initial: Rollout): Promise<boolean> {
    const { store, clock } = this.deps;
    let r = initial;
    if (r.phase === 'pending') {
      r = await this.applyAndRoute(r, { type: 'start' });
      this.deps.recordEvent(r.id, 'info', `rollout started: ${r.plan.steps.length} steps`);
    }
    if (r.phase === 'paused') return false;
    const step = currentStep(r);
    if (!step) return false;
    const total = activeSteps(r).length;
    const label = `${r.phase === 'aborting' ? 'restoring' : 'step'} ${r.stepIndex + 1}/${total}`;
    const name = (id: number) => { const rel = store.getRelease(id); return rel ? `${rel.env}#${rel.number}` : `release ${id}`; };
    switch (step.type) {
      case 'scale':
        return this.runScale(r, step, label);
      case 'weights':
      case 'preview':
        this.deps.recordEvent(r.id, 'info', `${label}: ${describeStep(step, name)}`, { step: r.stepIndex, phase: r.phase });
        await this.applyAndRoute(r, { type: 'step-done', index: r.stepIndex });
        return true;
      case 'analysis':
        return this.runAnalysisStep(r, step, label);
      case 'shadow':
        return this.runShadowStep(r, step, label);
      case 'pause': {
        if (step.durationMs === null) {
          if (!this.announcedWait.has(`${r.id}:${r.stepIndex}`)) {
            this.announcedWait.add(`${r.id}:${r.stepIndex}`);
            this.deps.recordEvent(r.id, 'info', `${label}: paused until promoted (slipway promote ${r.env})`, { step: r.stepIndex });
          }
          return false;
        }
        const endsAt = (r.stepStartedAt ?? clock.now()) + step.durationMs;
        if (clock.now() < endsAt) {
          if (!this.announcedWait.has(`${r.id}:${r.stepIndex}`)) {
            this.announcedWait.add(`${r.id}:${r.stepIndex}`);
            this.deps.recordEvent(r.id, 'info', `${label}: ${describeStep(step, name)}`, { step: r.stepIndex });
          }
          this.nextWakeAt = endsAt;
          return false;
        }
        await this.applyAndRoute(r, { type: 'step-done', index: r.stepIndex });
        return true;
      }
    }
  }

  /** Goes on when the analysis passes, aborts when it fails; an inconclusive one meets its deadline's policy. */
  private async runAnalysisStep(r: Rollout, step: Extract<Step, { type: 'analysis' }>, label: string): Promise<boolean> {
    const key = `${r.id}:${r.stepIndex}`;
    if (!this.announcedWait.has(key)) {
      this.announcedWait.add(key);
      this.deps.recordEvent(r.id, 'info', `${label}: analysis of the new release against the stable one`, { step: r.stepIndex });
    }
    const verdict = this.deps.stepVerdict(r);
    if (verdict?.decision === 'pass') {
      await this.applyAndRoute(r, { type: 'step-done', index: r.stepIndex });
      return true;
    }
    if (verdict?.decision === 'fail') {
      await this.applyAndRoute(r, { type: 'step-failed', index: r.stepIndex, reason: `analysis failed: ${verdict.reason}` });
      return true;
    }
    const deadline = step.analysis.deadlineMs === null ? null : (r.stepStartedAt ?? this.deps.clock.now()) + step.analysis.deadlineMs;
    if (deadline !== null && this.deps.clock.now() >= deadline) {
      const policy = step.analysis.spec.inconclusive;
      const why = `analysis still inconclusive at its ${Math.round(step.analysis.deadlineMs! / 1000)}s deadline (${verdict?.reason ?? 'no traffic seen'})`;
      if (policy === 'pass') {
        this.deps.recordEvent(r.id, 'warn', `${why}: passing it, as configured`);
        await this.applyAndRoute(r, { type: 'step-done', index: r.stepIndex });
        return true;
      }
      if (policy === 'fail') {
        await this.applyAndRoute(r, { type: 'step-failed', index: r.stepIndex, reason: why });
        return true;
      }
      if (!this.announcedWait.has(`${key}:deadline`)) {
        this.announcedWait.add(`${key}:deadline`);
        this.deps.recordEvent(r.id, 'warn', `${why}: waiting for a person (slipway promote ${r.env} or abort)`);
      }
    }
    this.nextWakeAt = this.deps.clock.now() + 1000;
    return false;
  }

  /**
   * The router copies requests while the step lasts (route-sync.ts puts the step in
   * the table); at its end the figures decide: too many real differences fail the
   * rollout, which goes back to stable before any user reached the new release.
   */
  private async runShadowStep(r: Rollout, step: Extract<Step, { type: 'shadow' }>, label: string): Promise<boolean> {
    const { clock } = this.deps;
    const s = step.shadow;
    const key = `${r.id}:${r.stepIndex}`;
    if (!this.announcedWait.has(key)) {
      this.announcedWait.add(key);
      const unsafe = s.methods.filter((m) => m !== 'GET' && m !== 'HEAD' && m !== 'OPTIONS');
      this.deps.recordEvent(r.id, unsafe.length ? 'warn' : 'info', `${label}: shadow traffic: copying ${s.percent}% of ${s.methods.join(', ')} requests on ${s.paths.join(', ')} to the new release for ${Math.round(s.durationMs / 1000)}s and comparing its answers with stable's${unsafe.length ? ` (${unsafe.join(', ')} copied as configured: the new release sees them twice over)` : ''}`, { step: r.stepIndex });
    }
    const endsAt = (r.stepStartedAt ?? clock.now()) + s.durationMs;
    if (clock.now() < endsAt) {
      this.nextWakeAt = endsAt;
      return false;
    }
    const verdict = this.deps.shadowVerdict ? await this.deps.shadowVerdict(r, step, endsAt) : null;
    const fresh = this.deps.store.getRollout(r.id);
    if (!fresh || fresh.phase !== r.phase || fresh.stepIndex !== r.stepIndex) return true; // someone acted meanwhile
    if (verdict === null && this.deps.shadowVerdict) {
      this.nextWakeAt = clock.now() + 1000;
      return false;
    }
    const data = verdict ? { step: r.stepIndex, shadow: verdict } : { step: r.stepIndex };
    const decision = verdict?.decision === 'inconclusive' ? s.inconclusive : verdict?.decision ?? 'pass';
    if (decision === 'fail') {
      const reason = `shadow traffic: ${verdict?.reason ?? 'no figures'}`;
      this.deps.recordEvent(r.id, 'error', `${label}: ${reason}`, data);
      await this.applyAndRoute(r, { type: 'step-failed', index: r.stepIndex, reason });
      return true;
    }
    const level = verdict?.decision === 'pass' ? 'info' : 'warn';
    this.deps.recordEvent(r.id, level, `${label}: shadow traffic ${verdict?.decision === 'pass' ? 'passed' : 'inconclusive, passing it as configured'}: ${verdict?.reason ?? 'no figures from the router'}`, data);
    await this.applyAndRoute(r, { type: 'step-done', index: r.stepIndex });
    return true;
  }

  private async runScale(r: Rollout, step: Extract<Step, { type: 'scale' }>, label: string): Promise<boolean> {
    const { store } = this.deps;
    const release = store.getRelease(step.releaseId);
    if (!release) {
      await this.applyAndRoute(r, { type: 'step-failed', index: r.stepIndex, reason: `release ${step.releaseId} is missing from the store` });
      return true;
    }
    const key = `${r.id}:${r.phase}:${r.stepIndex}`;
    if (!this.announcedWait.has(key)) {
      this.announcedWait.add(key);
      this.deps.recordEvent(r.id, 'info', `${label}: ${release.env}#${release.number} to ${step.count} instance(s)`, { step: r.stepIndex, phase: r.phase });
    }
    const startedPhase = r.phase;
    let outcome: ScaleOutcome;
    try {
      outcome = await this.deps.fleets.of(release).scale(release, step.count, () => this.isRolloutChanged(r.id, startedPhase));
    } catch (e) {
      // The runtime could not be asked or told (the Docker engine is away): nothing
      // is known to have failed, so the step waits and is tried again each pass.
      this.waitForRuntime(r, label, e);
      return false;
    }
    this.runtimeAnswersAgain(r, label, release.config.environment.runtime);
    const fresh = store.getRollout(r.id);
    if (!fresh || fresh.phase !== startedPhase || fresh.stepIndex !== r.stepIndex) return true; // someone acted meanwhile
    if (!outcome.ok) this.deps.recordEvent(r.id, 'error', `step failed: ${outcome.reason}`);
    const next = await this.applyAndRoute(fresh, outcome.ok
      ? { type: 'step-done', index: fresh.stepIndex }
      : { type: 'step-failed', index: fresh.stepIndex, reason: outcome.reason });
    if (next.phase === 'aborting' && startedPhase !== 'aborting') {
      // A first release has nothing to go back to: its instances are stopped, and that is all.
      const what = next.fromReleaseId === null ? 'stopping the new release\'s instances (no earlier release to go back to)' : 'rolling back to the stable release';
      this.deps.recordEvent(r.id, 'warn', `${what}: ${next.reason}`);
    }
    return true;
  }

  /** Said once per outage, in the rollout's events and the server's log; the pass then sleeps as an idle one does. */
  private waitForRuntime(r: Rollout, label: string, e: unknown): void {
    if (this.waitingOn?.rolloutId === r.id) return;
    const reason = e instanceof Error ? e.message : String(e);
    this.waitingOn = { rolloutId: r.id, since: this.deps.clock.now(), isRuntimeAway: e instanceof SlipwayError && e.code === 'E_RUNTIME_UNAVAILABLE' };
    this.deps.recordEvent(r.id, 'warn', `${label}: waiting: ${reason}`, { step: r.stepIndex, phase: r.phase });
    this.deps.log.warn({ env: this.env, rollout: r.id, err: reason }, 'a rollout step waits for its runtime');
  }

  private runtimeAnswersAgain(r: Rollout, label: string, runtime: string): void {
    if (this.waitingOn?.rolloutId !== r.id) return;
    const waitedS = Math.round((this.deps.clock.now() - this.waitingOn.since) / 1000);
    const why = this.waitingOn.isRuntimeAway ? `the ${runtime} runtime answers again` : 'the step could be carried out';
    this.waitingOn = null;
    this.deps.recordEvent(r.id, 'info', `${label}: going on: ${why} (waited ${waitedS}s)`, { step: r.stepIndex, phase: r.phase });
    this.deps.log.info({ env: this.env, rollout: r.id, waitedS }, `a rollout step goes on: ${why}`);
  }

  private isRolloutChanged(id: number, phase: Rollout['phase']): boolean {
    return this.deps.store.getRollout(id)?.phase !== phase;
  }

  private announceEnd(r: Rollout): void {
    const to = this.deps.store.getRelease(r.toReleaseId);
    const name = to ? `${to.env}#${to.number}` : `release ${r.toReleaseId}`;
    if (r.phase === 'succeeded') this.deps.recordEvent(r.id, 'info', `rollout succeeded: ${name} is now stable`);
    else this.deps.recordEvent(r.id, 'error', `rollout ${r.phase}: ${r.reason ?? ''}`.trim());
  }

  /** The release whose config decides now: the one a rollout moves to, else the stable one. */
  private routingRelease(rollout: Rollout | null) {
    const { store } = this.deps;
    const id = rollout ? rollout.toReleaseId : store.getStableReleaseId(this.env);
    return id === null ? null : store.getRelease(id);
  }

  /** No rollout: keep the stable release at its size and nothing else running (every fleet: a first deploy may have failed anywhere). */
  private async maintain(): Promise<void> {
    const { store, fleets, clock } = this.deps;
    if (clock.now() < this.nextMaintainAt) return;
    const stableId = store.getStableReleaseId(this.env);
    const stable = stableId === null ? null : store.getRelease(stableId);
    if (stableId !== null && !stable) return;
    let outcome: ScaleOutcome = { ok: true };
    for (const fleet of fleets.all()) {
      outcome = await fleet.maintain(this.env, stable && fleets.of(stable) === fleet ? stable : null);
      if (!outcome.ok) break;
    }
    if (outcome.ok) {
      this.maintainFailures = 0;
    } else {
      this.maintainFailures++;
      const backoff = Math.min(MAINTAIN_BACKOFF_MAX_MS, 1000 * 2 ** this.maintainFailures);
      this.nextMaintainAt = clock.now() + backoff;
      this.deps.log.warn({ env: this.env, reason: outcome.reason, retryInMs: backoff }, stable ? 'could not restore the stable release to full size' : 'could not stop the instances of an environment with no stable release');
    }
  }
}

export class Reconciler {
  private readonly loops = new Map<string, EnvLoop>();

  constructor(private readonly deps: ReconcilerDeps) {}

  /** Starts (or wakes) the loop of an environment. */
  wake(env: string): void {
    const loop = this.loops.get(env);
    if (loop) loop.wake();
    else this.loops.set(env, new EnvLoop(env, this.deps));
  }

  /** Stops the loops; a pass in the middle of a step is abandoned, to be resumed by the next server. */
  async stop(graceMs = 2000): Promise<void> {
    const loops = [...this.loops.values()];
    for (const l of loops) l.stop();
    this.loops.clear();
    await Promise.race([Promise.all(loops.map((l) => l.done)), this.deps.clock.sleep(graceMs)]);
  }
}
