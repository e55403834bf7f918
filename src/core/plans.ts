// Plans: from (stable release, new release, size, strategy) to a list of steps.
// Pure. Every strategy ends the same way: the new release at full size with all
// the traffic, and the stable release scaled to zero.

import { resolveCount } from './duration.ts';
import type { AnalysisConfig, BlueGreenStrategy, CanaryStrategy, RollingStrategy, Strategy } from './service-config.ts';
import type { ShadowSpec } from './shadow/shadow-spec.ts';

export type Step =
  /** Ensure exactly `count` ready instances of a release (start new ones, or drain and stop extras). */
  | { type: 'scale'; releaseId: number; count: number }
  /** Route traffic by explicit shares (release id → percent). */
  | { type: 'weights'; weights: Record<string, number> }
  /** Wait; durationMs null waits for a person to promote. */
  | { type: 'pause'; durationMs: number | null }
  /** Compare the new release with the stable one; go on only when it passes. */
  | { type: 'analysis'; analysis: AnalysisConfig }
  /** Copy live requests the stable release answered to the new one and compare the answers; go on only when they agree. */
  | { type: 'shadow'; shadow: ShadowSpec }
  /** Expose a release on the environment's preview listener (null: close it). */
  | { type: 'preview'; releaseId: number | null };

export type StepType = Step['type'];

export interface PlanInput {
  stableReleaseId: number | null;
  /** Ready instances of the stable release when the rollout starts. */
  stableCount: number;
  newReleaseId: number;
  instances: number;
}

export function planFor(strategy: Strategy, input: PlanInput): Step[] {
  switch (strategy.type) {
    case 'rolling':
      return planRolling({ ...input, strategy });
    case 'canary':
      return planCanary({ ...input, strategy });
    case 'blue-green':
      return planBlueGreen({ ...input, strategy });
  }
}

const hasStable = (i: PlanInput) => i.stableReleaseId !== null && i.stableCount > 0;

/** The steps that finish any rollout at once: full size, all traffic, stable gone. */
export function planFullPromotion(input: Pick<PlanInput, 'stableReleaseId' | 'newReleaseId' | 'instances'>): Step[] {
  const steps: Step[] = [
    { type: 'scale', releaseId: input.newReleaseId, count: input.instances },
    { type: 'weights', weights: { [input.newReleaseId]: 100 } },
    { type: 'preview', releaseId: null },
  ];
  if (input.stableReleaseId !== null) steps.push({ type: 'scale', releaseId: input.stableReleaseId, count: 0 });
  return steps;
}

/**
 * Batch by batch: start `batch` new instances, wait for them to be ready, then stop
 * as many old ones. With max_unavailable > 0 some old instances stop before their
 * replacements start, but the ready total never drops below instances - maxUnavailable.
 * Traffic follows the ready instances (no weights steps).
 */
export function planRolling(input: PlanInput & { strategy: RollingStrategy }): Step[] {
  const total = input.instances;
  const batch = Math.max(1, resolveCount(input.strategy.batch, total));
  const maxUnavailable = Math.min(total, resolveCount(input.strategy.maxUnavailable, total));
  const minReady = total - maxUnavailable;
  const steps: Step[] = [];
  const stable = hasStable(input) ? input.stableReleaseId! : null;
  let oldCount = stable !== null ? input.stableCount : 0;
  let newCount = 0;
  while (newCount < total) {
    const nextNew = Math.min(total, newCount + batch);
    if (stable !== null) {
      // Stop old ones early only as far as the availability floor allows.
      const stopFirst = Math.min(oldCount, nextNew - newCount, Math.max(0, oldCount + newCount - minReady));
      if (stopFirst > 0) {
        oldCount -= stopFirst;
        steps.push({ type: 'scale', releaseId: stable, count: oldCount });
      }
    }
    steps.push({ type: 'scale', releaseId: input.newReleaseId, count: nextNew });
    newCount = nextNew;
    if (stable !== null) {
      const oldTarget = Math.max(0, Math.min(oldCount, total - newCount));
      if (oldTarget < oldCount) {
        oldCount = oldTarget;
        steps.push({ type: 'scale', releaseId: stable, count: oldCount });
      }
    }
  }
  if (stable !== null && oldCount > 0) steps.push({ type: 'scale', releaseId: stable, count: 0 });
  return steps;
}

/** Canary instances for a weight: what was set, else enough to carry the share (at least one). */
export function canarySize(strategy: CanaryStrategy, instances: number, weightPct: number): number {
  if (weightPct >= 100) return instances;
  if (strategy.canaryInstances !== null) return Math.min(instances, strategy.canaryInstances);
  return Math.max(1, Math.min(instances, Math.ceil((instances * weightPct) / 100 - 1e-9)));
}

/**
 * The stable release keeps its full size until the end, so an abort is only a
 * weights change; the canary grows with its weight.
 */
export function planCanary(input: PlanInput & { strategy: CanaryStrategy }): Step[] {
  if (!hasStable(input)) return planFullPromotion({ ...input, stableReleaseId: null }).filter(dropRedundantPreview);
  const stable = input.stableReleaseId!;
  const steps: Step[] = [];
  let size = 0;
  for (const spec of input.strategy.steps) {
    if ('weight' in spec) {
      const want = canarySize(input.strategy, input.instances, spec.weight);
      if (want > size) steps.push({ type: 'scale', releaseId: input.newReleaseId, count: want });
      size = Math.max(size, want);
      steps.push({ type: 'weights', weights: spec.weight >= 100 ? { [input.newReleaseId]: 100 } : { [stable]: 100 - spec.weight, [input.newReleaseId]: spec.weight } });
    } else if ('pause' in spec) {
      steps.push({ type: 'pause', durationMs: spec.pause.durationMs });
    } else if ('shadow' in spec) {
      // Copies need a new instance to go to; it takes no user traffic at this point.
      if (size === 0) {
        size = canarySize(input.strategy, input.instances, spec.shadow.percent);
        steps.push({ type: 'scale', releaseId: input.newReleaseId, count: size });
      }
      steps.push({ type: 'shadow', shadow: spec.shadow });
    } else {
      steps.push({ type: 'analysis', analysis: spec.analysis });
    }
  }
  // A last weight of 100 already did part of the promotion: do not say it twice.
  const reachedFull = input.strategy.steps.some((s) => 'weight' in s && s.weight >= 100);
  const promotion = planFullPromotion({ ...input, stableReleaseId: stable }).filter(
    (s) => !(reachedFull && (s.type === 'weights' || (s.type === 'scale' && s.releaseId === input.newReleaseId))),
  );
  return [...steps, ...promotion].filter(dropRedundantPreview);
}

/**
 * The new colour starts at full size beside the old, can be tried on the preview
 * listener, then takes all traffic in one switch; the old colour stays warm for
 * scale_down_delay so going back is one switch too.
 */
export function planBlueGreen(input: PlanInput & { strategy: BlueGreenStrategy }): Step[] {
  const s = input.strategy;
  const steps: Step[] = [{ type: 'scale', releaseId: input.newReleaseId, count: input.instances }];
  if (s.previewListen) steps.push({ type: 'preview', releaseId: input.newReleaseId });
  if (s.shadow && hasStable(input)) steps.push({ type: 'shadow', shadow: s.shadow });
  if (!s.autoPromote && hasStable(input)) steps.push({ type: 'pause', durationMs: null });
  steps.push({ type: 'weights', weights: { [input.newReleaseId]: 100 } });
  if (s.previewListen) steps.push({ type: 'preview', releaseId: null });
  if (hasStable(input)) {
    if (s.scaleDownDelayMs > 0) steps.push({ type: 'pause', durationMs: s.scaleDownDelayMs });
    steps.push({ type: 'scale', releaseId: input.stableReleaseId!, count: 0 });
  }
  return steps;
}

/** A canary never opened a preview, so the full promotion's closing of it is noise. */
function dropRedundantPreview(step: Step): boolean {
  return !(step.type === 'preview' && step.releaseId === null);
}

/**
 * Abort: the preview address closed (only when one is open: a blue-green's), the
 * stable release back to full size, and only then the new one to zero.
 */
export function planAbort(input: { stableReleaseId: number | null; instances: number; newReleaseId: number; previewOpen: boolean }): Step[] {
  const steps: Step[] = input.previewOpen ? [{ type: 'preview', releaseId: null }] : [];
  if (input.stableReleaseId !== null) steps.push({ type: 'scale', releaseId: input.stableReleaseId, count: input.instances });
  steps.push({ type: 'scale', releaseId: input.newReleaseId, count: 0 });
  return steps;
}

export function describeStep(s: Step, releaseName: (id: number) => string): string {
  switch (s.type) {
    case 'scale':
      return `${releaseName(s.releaseId)} to ${s.count} instance(s)`;
    case 'weights':
      return `traffic ${Object.entries(s.weights).map(([id, w]) => `${releaseName(Number(id))} ${w}%`).join(', ')}`;
    case 'pause':
      return s.durationMs === null ? 'pause until promoted' : `pause ${Math.round(s.durationMs / 100) / 10}s`;
    case 'analysis':
      return 'analysis';
    case 'shadow':
      return `shadow ${s.shadow.percent}% of ${s.shadow.methods.join('/')} for ${Math.round(s.shadow.durationMs / 100) / 10}s`;
    case 'preview':
      return s.releaseId === null ? 'close preview' : `preview ${releaseName(s.releaseId)}`;
  }
}
