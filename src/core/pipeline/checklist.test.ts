import { describe, expect, it } from 'vitest';
import { buildChecklist } from './checklist.ts';
import { STAGES, type PipelineRun, type StageRecord } from './pipeline-run.ts';

const run: PipelineRun = {
  id: 3, service: 'hello', repo: '/r', ref: 'main', commit: 'c'.repeat(40), version: '1.0.0', status: 'failed', stage: 'acceptance', reason: 'x',
  startedBy: 'alice', createdAt: 0, updatedAt: 0, finishedAt: 0, configText: '{}', artefactDigest: `sha256:${'d'.repeat(64)}`, attempt: 1,
};
const stage = (name: (typeof STAGES)[number], status: StageRecord['status'], data: Record<string, unknown> = {}, reason: string | null = null): StageRecord => ({
  runId: 3, name, status, startedAt: 1, finishedAt: 2, actor: 'alice', outputTail: '', reason, data,
});

describe('the deployment checklist', () => {
  it('shows a run stopped at acceptance: what was proven, what failed, what is missing', () => {
    const items = buildChecklist({
      run,
      stages: [
        stage('build', 'succeeded', { onMainBranch: true, mainBranch: 'main', branchEvidence: 'merge-base' }),
        stage('test', 'succeeded', { command: 'node --test', tests: 3, pass: 3, durationMs: 900 }),
        stage('package', 'succeeded', { digest: run.artefactDigest, version: '1.0.0', files: 6, keyId: 'k' }),
        stage('staging_deploy', 'succeeded', { env: 'staging', release: 4, rollout: 9 }),
        stage('acceptance', 'failed', {}, 'acceptance command exit code 1'),
      ],
      approvals: [], approvalsRequired: 1, rollbackArtefactPresent: null,
    });
    expect(items).toHaveLength(10);
    expect(Object.fromEntries(items.map((i) => [i.id, i.status]))).toEqual({
      'code-on-main': 'proven', 'tests-passed': 'proven', 'artefact-signed': 'proven', 'staging-deployed': 'proven', 'staging-healthy': 'missing',
      observability: 'missing', 'notes-and-rollback-target': 'missing', approved: 'missing', 'production-watched': 'missing', 'rollback-ready': 'missing',
    });
    expect(items.find((i) => i.id === 'tests-passed')!.evidence).toBe('`node --test`: 3/3 passed in 900 ms');
    expect(items.find((i) => i.id === 'approved')!.evidence).toBe('0/1 approvals');
  });

  it('says failed, with the reason, for a commit off the main branch, a rejection and a failed drill', () => {
    const items = buildChecklist({
      run,
      stages: [stage('build', 'succeeded', { onMainBranch: false, mainBranch: 'main' }), stage('rollback_drill', 'failed', {}, 'rolling back failed: rollout #4 failed')],
      approvals: [{ id: 1, runId: 3, actor: 'bob', decision: 'reject', reason: 'not yet', roles: null, at: 0, attempt: 1 }],
      approvalsRequired: 1, rollbackArtefactPresent: true,
    });
    const byId = Object.fromEntries(items.map((i) => [i.id, i]));
    expect(byId['code-on-main']).toMatchObject({ status: 'failed' });
    expect(byId['approved']).toMatchObject({ status: 'failed', evidence: 'rejected by bob: not yet' });
    expect(byId['rollback-ready']).toMatchObject({ status: 'failed', evidence: 'rollback drill failed: rolling back failed: rollout #4 failed' });
  });

  it('is not proven for rollback while the target artefact is gone, even after a passed drill', () => {
    const items = buildChecklist({
      run, stages: [stage('rollback_drill', 'succeeded', { summary: 'ok' }), stage('production_deploy', 'succeeded', { rollbackTarget: { env: 'production', release: 1, digest: 'sha256:ab' }, releaseNotes: '- x' })],
      approvals: [], approvalsRequired: 0, rollbackArtefactPresent: false,
    });
    expect(items.find((i) => i.id === 'rollback-ready')!.status).toBe('failed');
  });

  it('observability is not proven by health alone: with no requests counted it fails', () => {
    const status = (requestsCounted: number | undefined) => buildChecklist({
      run,
      stages: [stage('staging_health', 'succeeded', { healthyProbes: 10, probes: 10, url: 'http://x/health', windowMs: 1000, readyInstances: 1, ...(requestsCounted === undefined ? {} : { requestsCounted }) })],
      approvals: [], approvalsRequired: 1, rollbackArtefactPresent: null,
    }).find((i) => i.id === 'observability')!.status;
    expect(status(undefined)).toBe('failed');
    expect(status(0)).toBe('failed');
    expect(status(25)).toBe('proven');
  });
});
