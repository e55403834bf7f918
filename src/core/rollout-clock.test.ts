// A pause stops a step's clock, and an aborted rollout ends showing where it stopped.

import { describe, expect, it } from 'vitest';
import { currentStep, transition, type Rollout } from './rollout.ts';

const ctx = { stableInstances: 2, newInstances: 2 };
const base: Rollout = {
  id: 1, env: 'production', kind: 'deploy', fromReleaseId: 1, toReleaseId: 2, phase: 'progressing',
  plan: {
    steps: [
      { type: 'scale', releaseId: 2, count: 1 },
      { type: 'weights', weights: { 1: 80, 2: 20 } },
      { type: 'pause', durationMs: 300_000 },
      { type: 'weights', weights: { 2: 100 } },
      { type: 'scale', releaseId: 1, count: 0 },
    ],
  },
  stepIndex: 2, stepStartedAt: 1_000, traffic: { 1: 80, 2: 20 }, preview: null, reason: null,
  createdBy: 'alice', createdAt: 0, updatedAt: 1_000, finishedAt: null,
};

describe('rollout clock', () => {
  it('resume moves the step start on by the time spent paused, so a timed pause is not cut short', () => {
    const paused = transition(base, { type: 'pause', by: 'ops' }, 61_000, ctx);
    expect(paused.phase).toBe('paused');
    const resumed = transition(paused, { type: 'resume', by: 'ops' }, 661_000, ctx);
    expect(resumed.phase).toBe('progressing');
    // Paused 10 minutes after one minute of the pause: four minutes are still to go.
    expect(resumed.stepStartedAt).toBe(601_000);
    expect(resumed.stepStartedAt! + 300_000 - 661_000).toBe(240_000);
  });

  it('an aborted rollout ends at the step it was at, not at an index of the way back', () => {
    const aborting = transition(base, { type: 'abort', reason: 'looks wrong' }, 5_000, ctx);
    expect(aborting.phase).toBe('aborting');
    let r = aborting;
    for (let i = 0; r.phase === 'aborting'; i++) r = transition(r, { type: 'step-done', index: r.stepIndex }, 6_000 + i, ctx);
    expect(r.phase).toBe('rolled_back');
    expect(r.stepIndex).toBe(2);
    expect(currentStep(r)).toEqual({ type: 'pause', durationMs: 300_000 });
  });

  it('a way back that fails also ends at the step the rollout was at', () => {
    const aborting = transition({ ...base, stepIndex: 3 }, { type: 'abort', reason: 'bad', cause: 'failure' }, 5_000, ctx);
    const failed = transition(aborting, { type: 'step-failed', index: aborting.stepIndex, reason: 'no stable instance started' }, 6_000, ctx);
    expect(failed.phase).toBe('failed');
    expect(failed.stepIndex).toBe(3);
  });
});
