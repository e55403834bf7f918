// Property tests of the rollout machine: random strategies, sizes, step outcomes,
// commands and crashes (a crash = continuing from the last saved state), replayed
// against a model of the instances each release has ready.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planFor, type Step } from './plans.ts';
import { activeSteps, currentStep, effectiveWeights, isTerminal, transition, type Rollout, type RolloutEvent } from './rollout.ts';
import { DEFAULT_ANALYSIS } from './analysis/index.ts';
import type { CanaryStepSpec, Strategy } from './service-config.ts';

const STABLE = 1;
const NEW = 2;

const strategyArb: fc.Arbitrary<Strategy> = fc.oneof(
  fc.record({
    type: fc.constant('rolling' as const),
    batch: fc.oneof(fc.integer({ min: 1, max: 6 }).map((count) => ({ count })), fc.integer({ min: 1, max: 100 }).map((percent) => ({ percent }))),
    maxUnavailable: fc.integer({ min: 0, max: 3 }).map((count) => ({ count })),
  }),
  fc.record({
    type: fc.constant('canary' as const),
    steps: fc.uniqueArray(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 4 }).chain((ws) =>
      fc.shuffledSubarray<CanaryStepSpec>([{ pause: { durationMs: null } }, { pause: { durationMs: 1000 } }, { analysis: { spec: DEFAULT_ANALYSIS, deadlineMs: null, prometheus: [] } }]).map((extra) => {
        const weights = [...ws].sort((a, b) => a - b).map((weight) => ({ weight }));
        return [...weights.slice(0, 1), ...extra, ...weights.slice(1)];
      }),
    ),
    canaryInstances: fc.option(fc.integer({ min: 1, max: 3 }), { nil: null }),
    sticky: fc.constant(null),
  }),
  fc.record({
    type: fc.constant('blue-green' as const),
    previewListen: fc.option(fc.constant({ host: '127.0.0.1', port: 9000 }), { nil: null }),
    autoPromote: fc.boolean(),
    scaleDownDelayMs: fc.integer({ min: 0, max: 5000 }),
  }),
);

type Action = 'complete' | 'fail' | 'abort' | 'pause' | 'resume' | 'promote' | 'promote-full' | 'crash' | 'stale-report';
const actionArb = fc.constantFrom<Action>('complete', 'complete', 'complete', 'complete', 'fail', 'abort', 'pause', 'resume', 'promote', 'promote-full', 'crash', 'stale-report');

interface World {
  ready: Record<string, number>;
}

/** What the engine does for a step: a scale step changes the ready count of its release. */
function act(step: Step, world: World): void {
  if (step.type === 'scale') world.ready[step.releaseId] = step.count;
}

function sumOf(w: Record<string, number>): number {
  return Object.values(w).reduce((a, b) => a + b, 0);
}

describe('rollout machine properties', () => {
  it('keeps traffic on ready instances, aborts to stable first, and never redoes a finished step differently', () => {
    fc.assert(
      fc.property(strategyArb, fc.integer({ min: 1, max: 6 }), fc.array(actionArb, { minLength: 1, maxLength: 60 }), (strategy, instances, actions) => {
        const world: World = { ready: { [STABLE]: instances, [NEW]: 0 } };
        const ctx = { stableInstances: instances, newInstances: instances };
        let saved: Rollout = {
          id: 1, env: 'production', kind: 'deploy', fromReleaseId: STABLE, toReleaseId: NEW, phase: 'pending',
          plan: { steps: planFor(strategy, { stableReleaseId: STABLE, stableCount: instances, newReleaseId: NEW, instances }) },
          stepIndex: 0, stepStartedAt: null, traffic: strategy.type === 'rolling' ? null : { [STABLE]: 100 }, preview: null,
          reason: null, createdBy: 't', createdAt: 0, updatedAt: 0, finishedAt: null,
        };
        let now = 0;
        const done: { phase: string; index: number; step: string }[] = [];
        const apply = (e: RolloutEvent) => (saved = transition(saved, e, ++now, ctx));
        apply({ type: 'start' });

        for (const a of actions) {
          if (isTerminal(saved.phase)) break;
          const step = currentStep(saved);
          switch (a) {
            case 'complete':
              if (!step || saved.phase === 'paused') break;
              if (step.type === 'pause' && step.durationMs === null) break; // waits for a person
              act(step, world);
              done.push({ phase: saved.phase, index: saved.stepIndex, step: JSON.stringify(step) });
              apply({ type: 'step-done', index: saved.stepIndex });
              break;
            case 'fail':
              if (step?.type === 'scale' && step.count > (world.ready[step.releaseId] ?? 0)) {
                const before = saved;
                apply({ type: 'step-failed', index: saved.stepIndex, reason: 'not healthy' });
                if (before.phase !== 'aborting' && saved.phase === 'aborting') checkAbortSwitch(saved, world);
              }
              break;
            case 'abort': {
              const before = saved;
              apply({ type: 'abort', reason: 'by a person' });
              if (before.phase !== 'aborting' && saved.phase === 'aborting') checkAbortSwitch(saved, world);
              break;
            }
            case 'pause': apply({ type: 'pause', by: 'p' }); break;
            case 'resume': apply({ type: 'resume', by: 'p' }); break;
            case 'promote': apply({ type: 'promote', by: 'p', full: false }); break;
            case 'promote-full': apply({ type: 'promote', by: 'p', full: true }); break;
            case 'crash': {
              // The server dies and a new one reads the saved state: the same step, the same plan.
              const reloaded = JSON.parse(JSON.stringify(saved)) as Rollout;
              expect(reloaded).toEqual(saved);
              saved = reloaded;
              break;
            }
            case 'stale-report': {
              // A report about a step already done (from before a crash) changes nothing.
              const prev = done.at(-1);
              if (prev && (prev.index !== saved.stepIndex || prev.phase !== saved.phase)) {
                expect(transition(saved, { type: 'step-done', index: prev.index - (prev.phase === saved.phase ? 0 : 1000) }, now + 1, ctx)).toBe(saved);
              }
              break;
            }
          }
          checkWeights(saved, world);
        }
        // Whatever happened, completing steps leads to an end with only one release running.
        for (let guard = 0; guard < 100 && !isTerminal(saved.phase); guard++) {
          if (saved.phase === 'paused') apply({ type: 'resume', by: 'p' });
          const step = currentStep(saved);
          if (step?.type === 'pause' && step.durationMs === null) apply({ type: 'promote', by: 'p', full: false });
          else if (step) {
            act(step, world);
            apply({ type: 'step-done', index: saved.stepIndex });
          }
          checkWeights(saved, world);
        }
        expect(isTerminal(saved.phase)).toBe(true);
        if (saved.reason?.includes('restoring the stable release failed')) {
          // The way back failed too: the reconciler's steady state (outside the machine)
          // keeps retrying the stable release at full size and removes strays once it is.
          world.ready[STABLE] = instances;
          world.ready[NEW] = 0;
        }
        const winner = saved.phase === 'succeeded' ? NEW : STABLE;
        const loser = winner === NEW ? STABLE : NEW;
        expect(world.ready[winner]).toBe(instances);
        expect(world.ready[loser]).toBe(0);
        expect(saved.traffic).toBeNull();
      }),
      { numRuns: 3000 },
    );
  });
});

/** Weights sum to 100 over releases with ready instances, and name no other. */
function checkWeights(r: Rollout, world: World): void {
  const w = effectiveWeights(r.traffic, world.ready);
  const anyReady = Object.values(world.ready).some((n) => n > 0);
  if (!anyReady) {
    expect(w).toEqual({});
    return;
  }
  expect(Math.abs(sumOf(w) - 100)).toBeLessThan(1e-9);
  for (const [id, share] of Object.entries(w)) {
    expect(world.ready[id] ?? 0).toBeGreaterThan(0);
    expect(share).toBeGreaterThan(0);
  }
}

/** The saved state that starts an abort already sends everything to stable, before any abort step runs. */
function checkAbortSwitch(r: Rollout, world: World): void {
  expect(r.stepIndex).toBe(0);
  expect(activeSteps(r).findIndex((s) => s.type === 'scale' && s.releaseId === NEW && s.count === 0)).toBeGreaterThan(0);
  if ((world.ready[STABLE] ?? 0) > 0) expect(effectiveWeights(r.traffic, world.ready)).toEqual({ [STABLE]: 100 });
}
