import { describe, expect, it } from 'vitest';
import { planRolling, type Step } from './plans.ts';
import { ROLLOUT_PHASES, commandRefusal, effectiveWeights, isTerminal, transition, type Rollout } from './rollout.ts';

const S = 1;
const N = 2;
const rolling = (batch: number | string, maxUnavailable: number | string = 0) => ({
  type: 'rolling' as const,
  batch: typeof batch === 'number' ? { count: batch } : { percent: Number(batch.replace('%', '')) },
  maxUnavailable: typeof maxUnavailable === 'number' ? { count: maxUnavailable } : { percent: Number(maxUnavailable.replace('%', '')) },
});
const counts = (steps: Step[]) => steps.map((s) => (s.type === 'scale' ? `${s.releaseId === S ? 'old' : 'new'}=${s.count}` : s.type)).join(' ');

/** Replays a plan and returns the lowest ready total and highest total along the way. */
function envelope(steps: Step[], oldStart: number) {
  let old = oldStart;
  let neu = 0;
  let minReady = old;
  let maxTotal = old;
  for (const s of steps) {
    if (s.type !== 'scale') continue;
    if (s.releaseId === S) old = s.count;
    else {
      // new instances count as ready only once the step completes
      maxTotal = Math.max(maxTotal, old + s.count);
      neu = s.count;
    }
    minReady = Math.min(minReady, old + neu);
  }
  return { minReady, maxTotal, old, neu };
}

describe('planRolling', () => {
  it.each([
    { batch: 1, mu: 0, stable: 3, want: 'new=1 old=2 new=2 old=1 new=3 old=0' },
    { batch: '34%', mu: 0, stable: 3, want: 'new=2 old=1 new=3 old=0' },
    { batch: 1, mu: 1, stable: 3, want: 'old=2 new=1 old=1 new=2 old=0 new=3' },
    { batch: 3, mu: 0, stable: 3, want: 'new=3 old=0' },
    { batch: 1, mu: 0, stable: 0, want: 'new=1 new=2 new=3' },
    { batch: 2, mu: 0, stable: 5, want: 'old=3 new=2 old=1 new=3 old=0' },
  ])('batch $batch max_unavailable $mu from $stable old: $want', ({ batch, mu, stable, want }) => {
    const steps = planRolling({ stableReleaseId: stable ? S : null, stableCount: stable, newReleaseId: N, instances: 3, strategy: rolling(batch, mu) });
    expect(counts(steps)).toBe(want);
  });

  it('never drops below instances - max_unavailable ready and always ends with only the new release', () => {
    for (let instances = 1; instances <= 9; instances++) {
      for (let batch = 1; batch <= instances; batch++) {
        for (let mu = 0; mu <= instances; mu++) {
          for (const stable of [0, instances - 1, instances, instances + 2].filter((x) => x >= 0)) {
            const steps = planRolling({ stableReleaseId: stable ? S : null, stableCount: stable, newReleaseId: N, instances, strategy: rolling(batch, mu) });
            const e = envelope(steps, stable);
            expect(e.neu).toBe(instances);
            expect(e.old).toBe(0);
            if (stable >= instances) expect(e.minReady).toBeGreaterThanOrEqual(Math.min(stable, instances - mu));
            expect(e.maxTotal).toBeLessThanOrEqual(Math.max(stable, instances) + batch);
          }
        }
      }
    }
  });
});

describe('transition', () => {
  const base: Rollout = {
    id: 1, env: 'production', kind: 'deploy', fromReleaseId: S, toReleaseId: N, phase: 'progressing',
    plan: { steps: [{ type: 'scale', releaseId: N, count: 1 }, { type: 'scale', releaseId: S, count: 0 }] },
    stepIndex: 0, stepStartedAt: 0, traffic: null, preview: null, reason: null, createdBy: 'test', createdAt: 0, updatedAt: 0, finishedAt: null,
  };
  const ctx = { stableInstances: 1, newInstances: 1 };

  it('moves to the next step and succeeds after the last', () => {
    const a = transition(base, { type: 'step-done', index: 0 }, 10, ctx);
    expect([a.phase, a.stepIndex]).toEqual(['progressing', 1]);
    const b = transition(a, { type: 'step-done', index: 1 }, 20, ctx);
    expect([b.phase, b.finishedAt]).toEqual(['succeeded', 20]);
  });

  it('ignores a repeated report of a step already done', () => {
    const a = transition(base, { type: 'step-done', index: 0 }, 10, ctx);
    expect(transition(a, { type: 'step-done', index: 0 }, 11, ctx)).toBe(a);
  });

  it('a failed step restores the stable release first, then stops the new one, and ends failed', () => {
    const a = transition(base, { type: 'step-failed', index: 0, reason: 'never healthy' }, 10, ctx);
    expect(a.phase).toBe('aborting');
    expect(a.traffic).toEqual({ [S]: 100 });
    // No preview address is open: nothing to close (an abort used to show "close preview" for every strategy).
    expect(a.plan.abortSteps).toEqual([{ type: 'scale', releaseId: S, count: 1 }, { type: 'scale', releaseId: N, count: 0 }]);
    const withPreview = transition({ ...base, preview: N }, { type: 'step-failed', index: 0, reason: 'never healthy' }, 10, ctx);
    expect(withPreview.plan.abortSteps).toEqual([{ type: 'preview', releaseId: null }, { type: 'scale', releaseId: S, count: 1 }, { type: 'scale', releaseId: N, count: 0 }]);
    expect(withPreview.preview).toBeNull();
    let b = withPreview;
    for (let i = 0; i < 3; i++) b = transition(b, { type: 'step-done', index: i }, 11 + i, ctx);
    expect([b.phase, b.reason]).toEqual(['failed', 'never healthy']);
  });

  it('a requested abort ends rolled_back', () => {
    const a = transition(base, { type: 'abort', reason: 'aborted by alice' }, 10, ctx);
    let b = a;
    for (let i = 0; i < 3; i++) b = transition(b, { type: 'step-done', index: i }, 11 + i, ctx);
    expect(b.phase).toBe('rolled_back');
  });
});

describe('promote', () => {
  const at = (type: 'pause' | 'analysis'): Rollout => ({
    id: 2, env: 'production', kind: 'deploy', fromReleaseId: S, toReleaseId: N, phase: 'progressing',
    plan: { steps: [
      { type: 'scale', releaseId: N, count: 1 },
      type === 'pause' ? { type: 'pause', durationMs: null } : ({ type: 'analysis' } as unknown as Step),
      { type: 'scale', releaseId: S, count: 0 },
    ] },
    stepIndex: 1, stepStartedAt: 0, traffic: null, preview: null, reason: null, createdBy: 'test', createdAt: 0, updatedAt: 0, finishedAt: null,
  });
  const ctx = { stableInstances: 1, newInstances: 1 };

  it('is accepted while an analysis step runs and moves past it', () => {
    expect(commandRefusal(at('analysis'), { type: 'promote', by: 'alice', full: false })).toBeNull();
    expect(transition(at('analysis'), { type: 'promote', by: 'alice', full: false }, 5, ctx).stepIndex).toBe(2);
  });

  it('is accepted at a pause and refused at a scale step unless --full', () => {
    expect(commandRefusal(at('pause'), { type: 'promote', by: 'alice', full: false })).toBeNull();
    const scaling = { ...at('pause'), stepIndex: 0 };
    expect(commandRefusal(scaling, { type: 'promote', by: 'alice', full: false })).toMatch(/not waiting at a pause/);
    expect(commandRefusal(scaling, { type: 'promote', by: 'alice', full: true })).toBeNull();
  });
});

describe('terminal phases', () => {
  it('a rollout has ended exactly when it succeeded, was rolled back or failed', () => {
    expect(ROLLOUT_PHASES.filter(isTerminal)).toEqual(['succeeded', 'rolled_back', 'failed']);
    expect(isTerminal('no such phase')).toBe(false);
  });
});

describe('pause and resume', () => {
  const progressing: Rollout = {
    id: 3, env: 'production', kind: 'deploy', fromReleaseId: S, toReleaseId: N, phase: 'progressing',
    plan: { steps: [{ type: 'scale', releaseId: N, count: 1 }, { type: 'scale', releaseId: S, count: 0 }] },
    stepIndex: 0, stepStartedAt: 0, traffic: null, preview: null, reason: null, createdBy: 'test', createdAt: 0, updatedAt: 0, finishedAt: null,
  };
  const paused: Rollout = { ...progressing, phase: 'paused' };
  const ctx = { stableInstances: 1, newInstances: 1 };

  it('resume of a rollout that is not paused is refused and changes nothing', () => {
    expect(commandRefusal(progressing, { type: 'resume', by: 'alice' })).toBe('rollout #3 is not paused (it is progressing)');
    expect(transition(progressing, { type: 'resume', by: 'alice' }, 5, ctx)).toBe(progressing);
  });

  it('resume of a paused rollout carries on where it stopped', () => {
    expect(commandRefusal(paused, { type: 'resume', by: 'alice' })).toBeNull();
    const resumed = transition(paused, { type: 'resume', by: 'alice' }, 5, ctx);
    expect([resumed.phase, resumed.stepIndex, resumed.updatedAt]).toEqual(['progressing', 0, 5]);
  });

  it('a rollout paused before it started has no step clock for resume to move', () => {
    const notStarted: Rollout = { ...paused, stepStartedAt: null, updatedAt: 2 };
    expect(transition(notStarted, { type: 'resume', by: 'alice' }, 9, ctx).stepStartedAt).toBeNull();
  });

  it('pause holds a progressing rollout at its step; pausing it again is refused', () => {
    const held = transition(progressing, { type: 'pause', by: 'alice' }, 5, ctx);
    expect([held.phase, held.stepIndex, held.updatedAt]).toEqual(['paused', 0, 5]);
    expect(commandRefusal(held, { type: 'pause', by: 'bob' })).toBe('rollout #3 is already paused');
    expect(transition(held, { type: 'pause', by: 'bob' }, 6, ctx)).toBe(held);
  });
});

describe('commands and events that do not apply', () => {
  const steps: Step[] = [
    { type: 'scale', releaseId: N, count: 1 },
    { type: 'weights', weights: { [S]: 80, [N]: 20 } },
    { type: 'preview', releaseId: N },
    { type: 'pause', durationMs: null },
    { type: 'scale', releaseId: S, count: 0 },
  ];
  const r: Rollout = {
    id: 7, env: 'production', kind: 'deploy', fromReleaseId: S, toReleaseId: N, phase: 'progressing', plan: { steps },
    stepIndex: 0, stepStartedAt: 0, traffic: null, preview: null, reason: null, createdBy: 'test', createdAt: 0, updatedAt: 0, finishedAt: null,
  };
  const ctx = { stableInstances: 2, newInstances: 3 };
  const all = [
    { type: 'pause', by: 'a' }, { type: 'resume', by: 'a' }, { type: 'promote', by: 'a', full: false }, { type: 'abort', reason: 'x' },
  ] as const;

  it('every command is refused, and changes nothing, once a rollout has ended or while it aborts', () => {
    for (const phase of ['succeeded', 'rolled_back', 'failed'] as const) {
      for (const e of all) {
        expect(commandRefusal({ ...r, phase }, e)).toBe(`rollout #7 has already ended (${phase})`);
        expect(transition({ ...r, phase }, e, 5, ctx)).toEqual({ ...r, phase });
      }
    }
    for (const e of all) expect(commandRefusal({ ...r, phase: 'aborting' }, e)).toBe('rollout #7 is already aborting');
  });

  it('promote says which step the rollout is at when it is not waiting', () => {
    expect(commandRefusal({ ...r, stepIndex: 1 }, { type: 'promote', by: 'a', full: false }))
      .toBe('rollout #7 is not waiting at a pause (step 2 is weights); use --full to finish it now');
    expect(commandRefusal({ ...r, stepIndex: 9 }, { type: 'promote', by: 'a', full: false }))
      .toBe('rollout #7 is not waiting at a pause (step 10 is none); use --full to finish it now');
    expect(commandRefusal({ ...r, phase: 'paused', stepIndex: 1 }, { type: 'promote', by: 'a', full: false })).toBeNull();
    expect(commandRefusal({ ...r, phase: 'paused' }, { type: 'abort', reason: 'x' })).toBeNull();
  });

  it('promote of a rollout paused mid-step resumes it there; at a pause step it moves past it', () => {
    const held = transition({ ...r, phase: 'paused', stepIndex: 1 }, { type: 'promote', by: 'a', full: false }, 5, ctx);
    expect([held.phase, held.stepIndex]).toEqual(['progressing', 1]);
    const atPause = transition({ ...r, stepIndex: 3 }, { type: 'promote', by: 'a', full: false }, 5, ctx);
    expect([atPause.phase, atPause.stepIndex, atPause.stepStartedAt]).toEqual(['progressing', 4, 5]);
  });

  it('promote --full keeps the steps done and replaces the rest by a full promotion', () => {
    const p = transition({ ...r, stepIndex: 2 }, { type: 'promote', by: 'a', full: true }, 5, ctx);
    expect(p.plan.steps).toEqual([
      steps[0], steps[1],
      { type: 'scale', releaseId: N, count: 3 }, { type: 'weights', weights: { [N]: 100 } }, { type: 'preview', releaseId: null }, { type: 'scale', releaseId: S, count: 0 },
    ]);
    expect([p.phase, p.stepIndex, p.stepStartedAt]).toEqual(['progressing', 2, 5]);
  });

  it('start applies only to a pending rollout; step reports only to the step running, while it progresses or aborts', () => {
    expect(transition({ ...r, phase: 'pending', stepStartedAt: null }, { type: 'start' }, 5, ctx)).toMatchObject({ phase: 'progressing', stepStartedAt: 5 });
    const running = transition(r, { type: 'start' }, 5, ctx);
    expect(running).toBe(r);
    const paused = { ...r, phase: 'paused' as const };
    expect(transition(paused, { type: 'step-done', index: 0 }, 5, ctx)).toBe(paused);
    expect(transition(r, { type: 'step-done', index: 1 }, 5, ctx)).toBe(r);
    expect(transition(r, { type: 'step-failed', index: 1, reason: 'x' }, 5, ctx)).toBe(r);
    const ended = { ...r, phase: 'failed' as const };
    expect(transition(ended, { type: 'step-failed', index: 0, reason: 'x' }, 5, ctx)).toBe(ended);
  });

  it('records the traffic of a weights step and the release of a preview step as they complete', () => {
    const a = transition({ ...r, stepIndex: 1 }, { type: 'step-done', index: 1 }, 5, ctx);
    expect([a.traffic, a.preview]).toEqual([{ [S]: 80, [N]: 20 }, null]);
    const b = transition(a, { type: 'step-done', index: 2 }, 6, ctx);
    expect([b.traffic, b.preview, b.stepIndex]).toEqual([{ [S]: 80, [N]: 20 }, N, 3]);
  });

  it('when the way back fails too, the rollout ends failed, saying both', () => {
    const aborting = transition(r, { type: 'abort', reason: 'aborted by alice' }, 5, ctx);
    expect(aborting.plan.abortCause).toBe('request');
    const failed = transition(aborting, { type: 'step-failed', index: 0, reason: 'port taken' }, 6, ctx);
    expect([failed.phase, failed.reason, failed.finishedAt]).toEqual(['failed', 'aborted by alice; then restoring the stable release failed: port taken', 6]);
    const noReason = transition({ ...aborting, reason: null }, { type: 'step-failed', index: 0, reason: 'port taken' }, 6, ctx);
    expect(noReason.reason).toBe('abort; then restoring the stable release failed: port taken');
    expect(transition(r, { type: 'abort', reason: 'crash loop', cause: 'failure' }, 5, ctx).plan.abortCause).toBe('failure');
  });

  it('an abort of a first deploy has no stable release to send traffic to', () => {
    const first = transition({ ...r, fromReleaseId: null, traffic: { [N]: 100 } }, { type: 'abort', reason: 'x' }, 5, ctx);
    expect(first.traffic).toEqual({ [N]: 100 });
    expect(first.plan.abortSteps).toEqual([{ type: 'scale', releaseId: N, count: 0 }]);
  });
});

describe('effectiveWeights', () => {
  it('gives nothing when no instance is ready, and follows ready instances when no split is recorded', () => {
    expect(effectiveWeights({ [S]: 100 }, { [S]: 0, [N]: 0 })).toEqual({});
    expect(effectiveWeights(null, { [S]: 3, [N]: 1 })).toEqual({ [S]: 75, [N]: 25 });
    expect(effectiveWeights({ [S]: 80, [N]: 20 }, { [S]: 0, [N]: 2 })).toEqual({ [N]: 100 });
  });
});
