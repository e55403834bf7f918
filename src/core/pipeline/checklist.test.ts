import { describe, expect, it } from 'vitest';
import { buildChecklist } from './checklist.ts';
import { STAGES, type ApprovalRecord, type PipelineRun, type StageRecord } from './pipeline-run.ts';

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

describe('the checklist evidence, item by item', () => {
  const second: PipelineRun = { ...run, attempt: 2 };
  const digest = `sha256:${'e'.repeat(64)}`;
  const approval = (actor: string, attempt: number, at: number): ApprovalRecord => ({ id: at, runId: 3, actor, decision: 'approve', reason: null, roles: null, at, attempt });
  const show = (items: ReturnType<typeof buildChecklist>) => items.map((i) => [i.id, i.status, i.evidence]);

  it('a run that went all the way proves every item and says with what', () => {
    const items = buildChecklist({
      run: second,
      stages: [
        stage('build', 'succeeded', { onMainBranch: true, mainBranch: 'trunk', branchEvidence: 'merge-base' }),
        stage('test', 'succeeded', { command: 'npm test', tests: null, durationMs: 1200 }),
        stage('package', 'succeeded', { digest: run.artefactDigest, version: '1.0.0', files: 6, keyId: 'k1' }),
        stage('staging_deploy', 'succeeded', { env: 'staging', release: 4, rollout: 9 }),
        stage('staging_health', 'succeeded', { healthyProbes: 10, probes: 10, url: 'http://s/healthz', windowMs: 5000, readyInstances: 2, requestsCounted: 40 }),
        stage('approval', 'succeeded'),
        stage('production_deploy', 'succeeded', { env: 'production', release: 5, rollout: 10, strategy: 'canary', releaseNotes: '- fix', releaseNotesSource: 'git log', rollbackTarget: { env: 'production', release: 2, digest } }),
        stage('watch', 'succeeded', { watchMs: 60000 }),
        stage('rollback_drill', 'succeeded', { summary: 'rolled back and forward in 4 s' }),
      ],
      // bob's approval was for the first attempt; carol's second one counts once
      approvals: [approval('bob', 1, 0), approval('carol', 2, 1000), approval('carol', 2, 2000), approval('dave', 2, 3000)],
      approvalsRequired: 2, rollbackArtefactPresent: true,
    });
    expect(items.map((i) => i.title)).toEqual([
      'code at a commit on the main branch', 'tests passed', 'artefact built, tagged and signed', 'staging deploy succeeded', 'health confirmed on staging',
      'observability in place (health endpoint and metrics)', 'release notes and rollback target recorded', 'approval given',
      'production deploy completed and watched', 'rollback available (previous artefact present) and tested (drill passed)',
    ]);
    expect(show(items)).toEqual([
      ['code-on-main', 'proven', `commit ${run.commit} is on trunk (merge-base)`],
      ['tests-passed', 'proven', '`npm test`: exit code 0 in 1200 ms'],
      ['artefact-signed', 'proven', `${run.artefactDigest} version 1.0.0, 6 files, signed by key k1`],
      ['staging-deployed', 'proven', `staging#4 (rollout #9) succeeded with ${run.artefactDigest}`],
      ['staging-healthy', 'proven', '10/10 probes of http://s/healthz healthy over 5000 ms; all 2 instances ready'],
      ['observability', 'proven', 'health endpoint answered 10 times; the router counted 40 requests to the release during the window'],
      ['notes-and-rollback-target', 'proven', 'notes (git log, 5 chars); rollback target production#2 (sha256:eeeeeeeeeeee…)'],
      ['approved', 'proven', 'approved by carol at 1970-01-01T00:00:01.000Z, dave at 1970-01-01T00:00:03.000Z (2/2 needed; started by alice)'],
      ['production-watched', 'proven', 'production#5 (rollout #10, canary) succeeded; watched 60000 ms with no rollback'],
      ['rollback-ready', 'proven', 'artefact sha256:eeeeeeeeeeee… present; drill: rolled back and forward in 4 s'],
    ]);
  });

  it('a run that failed on the way says which stage failed and why', () => {
    const items = buildChecklist({
      run: second,
      stages: [
        stage('test', 'failed'),
        stage('staging_health', 'failed', { healthyProbes: 0, probes: 10 }, 'never healthy'),
        stage('production_deploy', 'failed', { releaseNotes: '' }, 'rollout #10 failed'),
        stage('rollback_drill', 'skipped', {}, 'no earlier release'),
      ],
      approvals: [], approvalsRequired: 0, rollbackArtefactPresent: null,
    });
    expect(show(items)).toEqual([
      ['code-on-main', 'missing', 'the build stage has not checked the commit'],
      ['tests-passed', 'failed', 'test failed: no reason recorded'],
      ['artefact-signed', 'missing', 'no artefact has been packed and signed'],
      ['staging-deployed', 'missing', 'not deployed to staging'],
      ['staging-healthy', 'failed', 'staging_health failed: never healthy'],
      ['observability', 'failed', 'health answers: no; requests counted: none'],
      ['notes-and-rollback-target', 'missing', 'no release notes'],
      ['approved', 'missing', '0/0 approvals'],
      ['production-watched', 'failed', 'rollout #10 failed'],
      ['rollback-ready', 'missing', 'no rollback target recorded; drill skipped: no earlier release'],
    ]);
  });

  it('a run that has not started proves nothing and says what is still to come', () => {
    expect(show(buildChecklist({ run: second, stages: [], approvals: [], approvalsRequired: 1, rollbackArtefactPresent: null }))).toEqual([
      ['code-on-main', 'missing', 'the build stage has not checked the commit'],
      ['tests-passed', 'missing', 'the tests have not run'],
      ['artefact-signed', 'missing', 'no artefact has been packed and signed'],
      ['staging-deployed', 'missing', 'not deployed to staging'],
      ['staging-healthy', 'missing', 'staging health has not been watched'],
      ['observability', 'missing', 'no health or metrics evidence recorded yet'],
      ['notes-and-rollback-target', 'missing', 'recorded when the production stage starts'],
      ['approved', 'missing', '0/1 approvals'],
      ['production-watched', 'missing', 'production has not been deployed'],
      ['rollback-ready', 'missing', 'no rollback target recorded; drill not run'],
    ]);
  });

  it('values a stage did not record show as empty, never as "undefined" or "null"', () => {
    const items = buildChecklist({
      run: second,
      stages: [
        stage('build', 'succeeded', { onMainBranch: false }),
        stage('package', 'succeeded', { digest: 'sha256:ab', version: null, files: 2 }),
        stage('production_deploy', 'succeeded', { releaseNotes: 'notes', rollbackTarget: null }),
        stage('watch', 'failed', {}, 'error rate 9% over 1%'),
      ],
      approvals: [], approvalsRequired: 1, rollbackArtefactPresent: true,
    });
    const byId = Object.fromEntries(show(items).map(([id, status, evidence]) => [id, `${status}: ${evidence}`]));
    expect(byId['code-on-main']).toBe(`failed: commit ${run.commit} is not on main`);
    expect(byId['artefact-signed']).toBe('proven: sha256:ab version , 2 files, signed by key ');
    expect(byId['notes-and-rollback-target']).toBe('missing: no earlier production release to roll back to');
    expect(byId['production-watched']).toBe('failed: error rate 9% over 1%');
    expect(byId['rollback-ready']).toBe('missing: rollback target present; drill not run');
  });

  it('approval is proven by the approval stage when the policy asks for none, and only then', () => {
    const approved = (stages: StageRecord[], required: number, approvals: ApprovalRecord[] = []) =>
      buildChecklist({ run: second, stages, approvals, approvalsRequired: required, rollbackArtefactPresent: null }).find((i) => i.id === 'approved')!;
    expect(approved([stage('approval', 'succeeded')], 0)).toMatchObject({ status: 'proven', evidence: 'the policy asks for no approval' });
    expect(approved([], 0)).toMatchObject({ status: 'missing' });
    expect(approved([], 2, [approval('carol', 2, 0)])).toMatchObject({ status: 'missing', evidence: '1/2 approvals' });
    expect(approved([], 1, [approval('carol', 2, 0)])).toMatchObject({ status: 'proven', evidence: 'approved by carol at 1970-01-01T00:00:00.000Z (1/1 needed; started by alice)' });
    const rejectedEarlier: ApprovalRecord = { ...approval('bob', 1, 5), decision: 'reject', reason: 'not yet' };
    expect(approved([], 1, [rejectedEarlier, approval('carol', 2, 0)])).toMatchObject({ status: 'proven' });
    const rejectedNow: ApprovalRecord = { ...approval('bob', 2, 5), decision: 'reject', reason: null };
    expect(approved([], 1, [rejectedNow, approval('carol', 2, 0)])).toMatchObject({ status: 'failed', evidence: 'rejected by bob: ' });
  });

  it('observability fails when the router counted requests but health never answered', () => {
    const items = buildChecklist({
      run: second, stages: [stage('staging_health', 'succeeded', { healthyProbes: 0, probes: 5, requestsCounted: 12 })],
      approvals: [], approvalsRequired: 1, rollbackArtefactPresent: null,
    });
    expect(items.find((i) => i.id === 'observability')).toMatchObject({ status: 'failed', evidence: 'health answers: no; requests counted: 12' });
    const answered = buildChecklist({
      run: second, stages: [stage('staging_health', 'succeeded', { healthyProbes: 3, probes: 5, requestsCounted: 0 })],
      approvals: [], approvalsRequired: 1, rollbackArtefactPresent: null,
    });
    expect(answered.find((i) => i.id === 'observability')).toMatchObject({ status: 'failed', evidence: 'health answers: yes; requests counted: 0' });
  });

  it('each item keeps its title whatever its status', () => {
    const titles = (stages: StageRecord[]) => buildChecklist({ run: second, stages, approvals: [], approvalsRequired: 1, rollbackArtefactPresent: null }).map((i) => `${i.status}: ${i.title}`);
    expect(titles([]).find((t) => t.includes('observability'))).toBe('missing: observability in place (health endpoint and metrics)');
    expect(titles([stage('staging_health', 'failed', {}, 'x')]).find((t) => t.includes('observability'))).toBe('failed: observability in place (health endpoint and metrics)');
  });

  it('evidence recorded as text is not a count: it proves nothing', () => {
    const status = (data: Record<string, unknown>) => buildChecklist({ run: second, stages: [stage('staging_health', 'succeeded', data)], approvals: [], approvalsRequired: 1, rollbackArtefactPresent: null })
      .find((i) => i.id === 'observability')!.status;
    expect(status({ healthyProbes: 10, requestsCounted: 25 })).toBe('proven');
    expect(status({ healthyProbes: '10', requestsCounted: 25 })).toBe('failed');
    expect(status({ healthyProbes: 10, requestsCounted: '25' })).toBe('failed');
  });
});

