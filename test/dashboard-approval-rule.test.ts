// The dashboard's copy of the approval rule (src/ui/approval-refusal.js, a plain
// browser module loaded here as it is) against the server's (approvalRefusal in
// src/core/pipeline/pipeline-run.ts): the same answer, words included, for every case
// generated. A change to one that the other lacks fails here.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { approvalRefusal, type ApprovalRecord } from '../src/core/pipeline/pipeline-run.ts';

type Rule = typeof approvalRefusal;

// A path the type checker does not follow: the module is JavaScript without declarations.
const MODULE = '../src/ui/approval-refusal.js';
const ui = (await import(MODULE)) as { approvalRefusal: Rule };

// Few names, so that starters, approvers and required roles often coincide.
const user = fc.constantFrom('alice', 'bob', 'carol');
const role = fc.constantFrom('approver', 'admin', 'deployer', 'release-manager');

const caseOf = fc.record({
  run: fc.record({
    id: fc.integer({ min: 1, max: 99 }),
    startedBy: user,
    status: fc.constantFrom('running', 'waiting', 'succeeded', 'failed' as const),
    stage: fc.constant('approval' as const),
    attempt: fc.integer({ min: 1, max: 3 }),
  }),
  policy: fc.record({ count: fc.integer({ min: 0, max: 3 }), roles: fc.uniqueArray(role, { maxLength: 2 }), distinctFromStarter: fc.boolean() }),
  actor: user,
  roles: fc.option(fc.uniqueArray(role, { maxLength: 2 }), { nil: null }),
  given: fc.array(fc.record({
    id: fc.nat(), runId: fc.nat(), actor: user, decision: fc.constantFrom('approve', 'reject' as const),
    reason: fc.constant(null), roles: fc.constant(null), at: fc.nat(), attempt: fc.integer({ min: 1, max: 3 }),
  }), { maxLength: 4 }),
  decision: fc.constantFrom('approve', 'reject' as const),
});

describe('the dashboard\'s approval rule', () => {
  it('refuses exactly when the server does, in the server\'s words', () => {
    fc.assert(fc.property(caseOf, (c) => {
      expect(ui.approvalRefusal(c)).toBe(approvalRefusal(c));
    }), { numRuns: 2000 });
  });

  it('covers each of the server\'s refusals and a consent, so the comparison above means something', () => {
    const run = { id: 7, startedBy: 'alice', status: 'waiting', stage: 'approval', attempt: 1 } as const;
    const policy = { count: 1, roles: ['approver'], distinctFromStarter: true };
    const approved: ApprovalRecord = { id: 1, runId: 7, actor: 'bob', decision: 'approve', reason: null, roles: null, at: 0, attempt: 1 };
    const cases: Parameters<Rule>[0][] = [
      { run: { ...run, status: 'succeeded' }, policy, actor: 'bob', roles: ['approver'], given: [] },
      { run, policy, actor: 'alice', roles: ['approver'], given: [] },
      { run, policy, actor: 'bob', roles: ['admin'], given: [] },
      { run, policy, actor: 'bob', roles: ['approver'], given: [approved] },
      { run, policy: { ...policy, distinctFromStarter: false }, actor: 'alice', roles: ['approver'], given: [] },
    ];
    const answers = cases.map((c) => ui.approvalRefusal(c));
    expect(answers.map((a) => a?.split(/[ :]/)[0] ?? null)).toEqual(['run', 'four', 'approving', 'bob', null]);
    expect(answers).toEqual(cases.map((c) => approvalRefusal(c)));
  });
});
