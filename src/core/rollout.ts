// The rollout machine: pure transitions between phases. The engine saves each
// returned state before acting on it (pushing routes, starting or stopping
// instances), so acting twice is harmless and a restarted server resumes exactly.

import { planAbort, planFullPromotion, type Step } from './plans.ts';

export type { Step } from './plans.ts';

export const ROLLOUT_PHASES = ['pending', 'progressing', 'paused', 'succeeded', 'aborting', 'rolled_back', 'failed'] as const;
export type RolloutPhase = (typeof ROLLOUT_PHASES)[number];
/** config: a new release of the same artefact, made by a change of config or secrets alone. */
export type RolloutKind = 'deploy' | 'rollback' | 'config';

export interface RolloutPlan {
  steps: Step[];
  /** Filled when the rollout aborts: the steps that put the stable release back. */
  abortSteps?: Step[];
  /** Why the rollout is going back: a person asked (ends `rolled_back`) or something failed (ends `failed`). */
  abortCause?: 'request' | 'failure';
  /** The index in `steps` the rollout was at when it aborted: where it stopped, once the way back is done. */
  abortedAt?: number;
}

/** Explicit traffic shares (release id → percent); null: traffic follows ready instances. */
export type TrafficSplit = Record<string, number> | null;

export interface Rollout {
  id: number;
  env: string;
  kind: RolloutKind;
  fromReleaseId: number | null;
  toReleaseId: number;
  phase: RolloutPhase;
  plan: RolloutPlan;
  stepIndex: number;
  /**
   * When the current step began: timed pauses count from here, across restarts.
   * Moved on by the time spent paused when the rollout resumes.
   */
  stepStartedAt: number | null;
  traffic: TrafficSplit;
  /** The release on the preview listener, if any. */
  preview: number | null;
  reason: string | null;
  createdBy: string;
  createdAt: number;
  /** The last transition; while paused, when the pause began. */
  updatedAt: number;
  finishedAt: number | null;
}

/** The phases a rollout ends in: it never leaves one, and nothing more happens to it. The one list; clients import it too. */
export const TERMINAL_PHASES: readonly RolloutPhase[] = ['succeeded', 'rolled_back', 'failed'];

/** Whether a rollout in `phase` has ended. Any string: clients read the phase from JSON. */
export function isTerminal(phase: string): boolean {
  return (TERMINAL_PHASES as readonly string[]).includes(phase);
}

export function activeSteps(r: Rollout): Step[] {
  return r.phase === 'aborting' ? r.plan.abortSteps ?? [] : r.plan.steps;
}

export function currentStep(r: Rollout): Step | undefined {
  return activeSteps(r)[r.stepIndex];
}

export type RolloutEvent =
  | { type: 'start' }
  | { type: 'step-done'; index: number }
  | { type: 'step-failed'; index: number; reason: string }
  | { type: 'pause'; by: string }
  | { type: 'resume'; by: string }
  | { type: 'promote'; by: string; full: boolean }
  /** cause 'failure' (the analysis, a crash loop) ends the rollout `failed`; a person's abort ends it `rolled_back`. */
  | { type: 'abort'; reason: string; cause?: 'request' | 'failure' };

export interface MachineContext {
  /** Size of the stable release, for the abort plan. */
  stableInstances: number;
  /** Size of the new release, for a full promotion. */
  newInstances: number;
}

/** Why a command cannot apply now, or null when it can. Commands that do not apply change nothing. */
export function commandRefusal(r: Rollout, e: Extract<RolloutEvent, { type: 'pause' | 'resume' | 'promote' | 'abort' }>): string | null {
  if (isTerminal(r.phase)) return `rollout #${r.id} has already ended (${r.phase})`;
  if (r.phase === 'aborting') return `rollout #${r.id} is already aborting`;
  switch (e.type) {
    case 'pause':
      return r.phase === 'paused' ? `rollout #${r.id} is already paused` : null;
    case 'resume':
      return r.phase === 'paused' ? null : `rollout #${r.id} is not paused (it is ${r.phase})`;
    case 'promote': {
      if (e.full) return null;
      const step = currentStep(r);
      return step?.type === 'pause' || step?.type === 'analysis' || step?.type === 'shadow' || r.phase === 'paused'
        ? null
        : `rollout #${r.id} is not waiting at a pause (step ${r.stepIndex + 1} is ${step?.type ?? 'none'}); use --full to finish it now`;
    }
    case 'abort':
      return null;
  }
}

/** The next state after an event. An event that does not apply returns `r` itself. */
export function transition(r: Rollout, e: RolloutEvent, now: number, ctx: MachineContext): Rollout {
  const at = { ...r, updatedAt: now };
  switch (e.type) {
    case 'start':
      return r.phase === 'pending' ? { ...at, phase: 'progressing', stepStartedAt: now } : r;
    case 'step-done':
      return e.index === r.stepIndex && (r.phase === 'progressing' || r.phase === 'aborting') ? completeStep(at, now) : r;
    case 'step-failed':
      if (e.index !== r.stepIndex || isTerminal(r.phase)) return r;
      if (r.phase === 'aborting') {
        // The way back itself failed: stop and say so; the reconciler keeps what serves.
        return { ...at, phase: 'failed', stepIndex: r.plan.abortedAt ?? r.stepIndex, reason: `${r.reason ?? 'abort'}; then restoring the stable release failed: ${e.reason}`, finishedAt: now, traffic: null, preview: null };
      }
      return startAbort(at, { reason: e.reason, cause: 'failure' }, ctx, now);
    case 'pause':
      return commandRefusal(r, e) ? r : { ...at, phase: 'paused' };
    case 'resume':
      // A pause stops the clock of the step: a timed pause or an analysis deadline
      // goes on from where it was, not minus the time spent paused. While paused
      // nothing else changes the rollout, so updatedAt is when it was paused.
      return commandRefusal(r, e) ? r : { ...at, phase: 'progressing', stepStartedAt: r.stepStartedAt === null ? null : r.stepStartedAt + Math.max(0, now - r.updatedAt) };
    case 'promote': {
      if (commandRefusal(r, e)) return r;
      const resumed: Rollout = { ...at, phase: 'progressing' };
      if (e.full) {
        const rest = planFullPromotion({ stableReleaseId: r.fromReleaseId, newReleaseId: r.toReleaseId, instances: ctx.newInstances });
        return { ...resumed, plan: { ...r.plan, steps: [...r.plan.steps.slice(0, r.stepIndex), ...rest] }, stepStartedAt: now };
      }
      const step = currentStep(r);
      return step?.type === 'pause' || step?.type === 'analysis' || step?.type === 'shadow' ? completeStep(resumed, now) : resumed;
    }
    case 'abort':
      return commandRefusal(r, e) ? r : startAbort(at, { reason: e.reason, cause: e.cause ?? 'request' }, ctx, now);
  }
}

/** Advances past the current step, recording what it decided (traffic, preview). */
function completeStep(r: Rollout, now: number): Rollout {
  const step = currentStep(r);
  let next: Rollout = { ...r, stepIndex: r.stepIndex + 1, stepStartedAt: now };
  if (step?.type === 'weights') next.traffic = { ...step.weights };
  if (step?.type === 'preview') next.preview = step.releaseId;
  if (next.stepIndex < activeSteps(next).length) return next;
  // The end: traffic follows the remaining (ready) instances again.
  next = { ...next, traffic: null, preview: null, finishedAt: now };
  // An abort's end shows where the rollout stopped, not an index into the way back.
  if (r.phase === 'aborting') return { ...next, stepIndex: r.plan.abortedAt ?? next.stepIndex, phase: r.plan.abortCause === 'request' ? 'rolled_back' : 'failed' };
  return { ...next, phase: 'succeeded' };
}

/**
 * Abort decides the traffic first: all of it to the stable release, in the same
 * saved state, before any step that starts or stops an instance.
 */
function startAbort(r: Rollout, why: { reason: string; cause: 'request' | 'failure' }, ctx: MachineContext, now: number): Rollout {
  const abortSteps = planAbort({ stableReleaseId: r.fromReleaseId, instances: ctx.stableInstances, newReleaseId: r.toReleaseId, previewOpen: r.preview !== null });
  return {
    ...r,
    phase: 'aborting',
    reason: why.reason,
    stepIndex: 0,
    stepStartedAt: now,
    traffic: r.fromReleaseId !== null ? { [r.fromReleaseId]: 100 } : r.traffic,
    preview: null,
    plan: { ...r.plan, abortSteps, abortCause: why.cause, abortedAt: r.stepIndex },
  };
}

/**
 * The shares the router gets: the recorded split restricted to releases that have a
 * ready instance, normalised to 100; when that leaves nothing (or no split is
 * recorded) traffic follows the ready instances, so nothing ready is ever left idle
 * while requests fail.
 */
export function effectiveWeights(traffic: TrafficSplit, readyByRelease: Record<string, number>): Record<string, number> {
  const ready = Object.entries(readyByRelease).filter(([, n]) => n > 0);
  const total = ready.reduce((a, [, n]) => a + n, 0);
  if (total === 0) return {};
  if (traffic) {
    const chosen = ready.filter(([id]) => (traffic[id] ?? 0) > 0);
    const sum = chosen.reduce((a, [id]) => a + traffic[id]!, 0);
    if (sum > 0) return Object.fromEntries(chosen.map(([id]) => [id, (traffic[id]! * 100) / sum]));
  }
  return Object.fromEntries(ready.map(([id, n]) => [id, (n * 100) / total]));
}
