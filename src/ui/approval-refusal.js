// The server's rule for who may approve or reject a release run, so that the page
// offers only what the server would accept. A copy of approvalRefusal in
// src/core/pipeline/pipeline-run.ts: the dashboard is served as plain modules without
// a build step and cannot load TypeScript. test/dashboard-approval-rule.test.ts runs
// both over the same generated cases and fails when they part; change them together.

const FINISHED_RUN_STATUSES = ['succeeded', 'failed'];

/**
 * Why `actor` (holding `roles`) would be refused, or null. For a rejection pass
 * `given: []`: the server ignores earlier approvals there (PipelineRunner.decide).
 */
export function approvalRefusal({ run, policy, actor, roles, given, decision }) {
  const verb = decision ?? 'approve';
  if (FINISHED_RUN_STATUSES.includes(run.status)) return `run #${run.id} has ${run.status}; there is nothing to ${verb}`;
  if (policy.distinctFromStarter && actor === run.startedBy) {
    return `four eyes: ${actor} started run #${run.id} and may not ${verb} it; another user must ${verb === 'approve' ? 'approve' : 'decide'}`;
  }
  if (policy.roles.length > 0 && roles !== null && !roles.some((r) => policy.roles.includes(r))) {
    return `${verb === 'approve' ? 'approving' : 'rejecting'} run #${run.id} needs one of the roles ${policy.roles.join(', ')}; ${actor} has ${roles.length ? roles.join(', ') : 'none'}`;
  }
  if (given.some((a) => a.attempt === run.attempt && a.actor === actor && a.decision === 'approve')) {
    return `${actor} has already approved run #${run.id}; approvals must come from ${policy.count} different users`;
  }
  return null;
}

/**
 * The approvals that count towards the run's policy: its current attempt's, one per
 * user. A copy of countedApprovals in src/core/pipeline/pipeline-run.ts, which the
 * approval stage counts with.
 */
export function countedApprovals(run, given) {
  const seen = new Set();
  return given.filter((a) => a.attempt === run.attempt && a.decision === 'approve' && !seen.has(a.actor) && seen.add(a.actor));
}
