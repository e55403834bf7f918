// What the CLI prints for a rollout and for times, without a server.

import { describe, expect, it } from 'vitest';
import type { RolloutView } from '../api/views.ts';
import { ago, formatRolloutLine } from './output.ts';

const plain = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

const base: RolloutView = {
  id: 7, env: 'production', kind: 'deploy', phase: 'progressing', from: 1, to: 2, step: 2,
  steps: ['#2 to 1 instance(s)', 'traffic #1 80%, #2 20%', 'pause 5m', 'traffic #2 100%', '#1 to 0 instance(s)'],
  abortSteps: null, current: 'pause 5m', traffic: { 1: 80, 2: 20 }, preview: null, reason: null, createdBy: 'alice', createdAt: 0, finishedAt: null,
};

describe('cli output', () => {
  it('a rollout under way shows its step out of all and what the step does', () => {
    expect(plain(formatRolloutLine(base))).toBe('rollout #7 deploy → #2 progressing step 3/5 (pause 5m)');
  });

  it('an aborting rollout counts the steps of the way back, not of the plan', () => {
    const r = { ...base, phase: 'aborting', step: 0, abortSteps: ['#1 to 2 instance(s)', '#2 to 0 instance(s)'], current: '#1 to 2 instance(s)', reason: 'analysis failed: error_rate' };
    expect(plain(formatRolloutLine(r))).toBe('rollout #7 deploy → #2 aborting restoring 1/2 (#1 to 2 instance(s)) — analysis failed: error_rate');
  });

  it('a finished rollout shows how it ended and why, with no step that never ran', () => {
    const r = { ...base, phase: 'rolled_back', reason: 'abort by ops', finishedAt: 10 };
    expect(plain(formatRolloutLine(r))).toBe('rollout #7 deploy → #2 rolled_back — abort by ops');
  });

  it('times read as a person says them', () => {
    const now = 1_000_000_000;
    expect(ago(null, now)).toBe('-');
    expect(ago(now - 42_000, now)).toBe('42s ago');
    expect(ago(now - 5 * 60_000, now)).toBe('5m ago');
    expect(ago(now - 3 * 3600_000, now)).toBe('3h ago');
    expect(ago(now - 2 * 86400_000, now)).toBe('2d ago');
    expect(ago(now + 5000, now)).toBe('0s ago');
  });
});
