// The rollout machine: plans as step lists and pure transitions between phases.
// The engine saves each returned state before acting on it, so running a step
// twice is harmless and a restarted server resumes exactly where it stopped.

import { resolveCount } from './duration.ts';
import type { RollingStrategy } from './service-config.ts';

export const ROLLOUT_PHASES = ['pending', 'progressing', 'paused', 'succeeded', 'aborting', 'rolled_back', 'failed'] as const;
export type RolloutPhase = (typeof ROLLOUT_PHASES)[number];
export type RolloutKind = 'deploy' | 'rollback';

/** Ensure exactly `count` ready instances of a release (start new ones or drain and stop extras). */
export interface ScaleStep {
  type: 'scale';
  releaseId: number;
  count: number;
}

export type Step = ScaleStep;

export interface RolloutPlan {
  steps: Step[];
  /** Filled when the rollout aborts: the steps that put the stable release back. */
  abortSteps?: Step[];
  /** Why the rollout is going back: a person asked (ends `rolled_back`) or something failed (ends `failed`). */
  abortCause?: 'request' | 'failure';
}

export interface Rollout {
  id: number;
  env: string;
  kind: RolloutKind;
  fromReleaseId: number | null;
  toReleaseId: number;
  phase: RolloutPhase;
  plan: RolloutPlan;
  stepIndex: number;
  reason: string | null;
  createdBy: string;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

export function isTerminal(phase: RolloutPhase): boolean {
  return phase === 'succeeded' || phase === 'rolled_back' || phase === 'failed';
}

export interface RollingPlanInput {
  stableReleaseId: number | null;
  /** Ready instances of the stable release when the rollout starts. */
  stableCount: number;
  newReleaseId: number;
  instances: number;
  strategy: RollingStrategy;
}

/**
 * Batch by batch: start `batch` new instances, wait for them to be ready, then stop
 * as many old ones. With max_unavailable > 0 some old instances stop before their
 * replacements start, but the ready total never drops below instances - maxUnavailable.
 */
export function planRolling(input: RollingPlanInput): Step[] {
  const total = input.instances;
  const batch = Math.max(1, resolveCount(input.strategy.batch, total));
  const maxUnavailable = Math.min(total, resolveCount(input.strategy.maxUnavailable, total));
  const minReady = total - maxUnavailable;
  const steps: Step[] = [];
  const hasStable = input.stableReleaseId !== null && input.stableCount > 0;
  let oldCount = hasStable ? input.stableCount : 0;
  let newCount = 0;
  while (newCount < total) {
    const nextNew = Math.min(total, newCount + batch);
    if (hasStable) {
      // Stop old ones early only as far as the availability floor allows.
      const stopFirst = Math.min(oldCount, nextNew - newCount, Math.max(0, oldCount + newCount - minReady));
      if (stopFirst > 0) {
        oldCount -= stopFirst;
        steps.push({ type: 'scale', releaseId: input.stableReleaseId!, count: oldCount });
      }
    }
    steps.push({ type: 'scale', releaseId: input.newReleaseId, count: nextNew });
    newCount = nextNew;
    if (hasStable) {
      const oldTarget = Math.max(0, Math.min(oldCount, total - newCount));
      if (oldTarget < oldCount) {
        oldCount = oldTarget;
        steps.push({ type: 'scale', releaseId: input.stableReleaseId!, count: oldCount });
      }
    }
  }
  if (hasStable && oldCount > 0) steps.push({ type: 'scale', releaseId: input.stableReleaseId!, count: 0 });
  return steps;
}

/** Abort: the stable release back to full size first, and only then the new one to zero. */
export function planAbort(input: { stableReleaseId: number | null; instances: number; newReleaseId: number }): Step[] {
  const steps: Step[] = [];
  if (input.stableReleaseId !== null) steps.push({ type: 'scale', releaseId: input.stableReleaseId, count: input.instances });
  steps.push({ type: 'scale', releaseId: input.newReleaseId, count: 0 });
  return steps;
}

export type RolloutEvent =
  | { type: 'start' }
  | { type: 'step-done'; index: number }
  | { type: 'step-failed'; index: number; reason: string }
  | { type: 'abort'; reason: string };

export interface AbortContext {
  stableReleaseId: number | null;
  instances: number;
}

/** The next state of a rollout after an event; the caller persists it before acting. */
export function transition(r: Rollout, e: RolloutEvent, now: number, ctx: AbortContext): Rollout {
  const at = { ...r, updatedAt: now };
  switch (e.type) {
    case 'start':
      return r.phase === 'pending' ? { ...at, phase: 'progressing' } : r;
    case 'step-done': {
      if (e.index !== r.stepIndex) return r; // a repeated report of an old step changes nothing
      const steps = r.phase === 'aborting' ? r.plan.abortSteps ?? [] : r.plan.steps;
      const nextIndex = r.stepIndex + 1;
      if (nextIndex < steps.length) return { ...at, stepIndex: nextIndex };
      if (r.phase === 'aborting') {
        // A failure that forced the abort keeps the rollout `failed`; a person's abort ends `rolled_back`.
        return { ...at, stepIndex: nextIndex, phase: r.plan.abortCause === 'request' ? 'rolled_back' : 'failed', finishedAt: now };
      }
      return { ...at, stepIndex: nextIndex, phase: 'succeeded', finishedAt: now };
    }
    case 'step-failed':
      if (r.phase === 'aborting') {
        // The way back itself failed: stop and say so; the reconciler keeps the stable release serving.
        return { ...at, phase: 'failed', reason: `${r.reason ?? 'abort'}; then restoring the stable release failed: ${e.reason}`, finishedAt: now };
      }
      return startAbort(at, { reason: e.reason, cause: 'failure' }, ctx);
    case 'abort':
      if (isTerminal(r.phase) || r.phase === 'aborting') return r;
      return startAbort(at, { reason: e.reason, cause: 'request' }, ctx);
  }
}

function startAbort(r: Rollout, why: { reason: string; cause: 'request' | 'failure' }, ctx: AbortContext): Rollout {
  const abortSteps = planAbort({ stableReleaseId: ctx.stableReleaseId, instances: ctx.instances, newReleaseId: r.toReleaseId });
  return { ...r, phase: 'aborting', reason: why.reason, stepIndex: 0, plan: { ...r.plan, abortSteps, abortCause: why.cause } };
}

export function currentStep(r: Rollout): Step | undefined {
  const steps = r.phase === 'aborting' ? r.plan.abortSteps ?? [] : r.plan.steps;
  return steps[r.stepIndex];
}
