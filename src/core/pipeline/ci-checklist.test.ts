import { describe, expect, it } from 'vitest';
import { buildChecklist } from './checklist.ts';
import type { CiOrigin } from './ci-origin.ts';
import type { PipelineRun, StageRecord } from './pipeline-run.ts';

const run: PipelineRun = {
  id: 7, service: 'shop', repo: 'https://github.com/acme/shop', ref: 'main', commit: 'a'.repeat(40), version: '1.2.0', status: 'running', stage: 'staging_deploy', reason: null,
  startedBy: 'github-shop', createdAt: 0, updatedAt: 0, finishedAt: null, configText: '{}', artefactDigest: `sha256:${'d'.repeat(64)}`, attempt: 1,
};
const ci: CiOrigin = {
  provider: 'github-actions', jobUrl: 'https://github.com/acme/shop/actions/runs/42', repository: 'https://github.com/acme/shop', commit: run.commit, branch: 'main', notes: null,
  testReport: { format: 'junit', tests: 12, pass: 11, fail: 0, skipped: 1, durationMs: 3200, failures: [], digest: `sha256:${'e'.repeat(64)}` },
};
const stage = (name: StageRecord['name'], status: StageRecord['status'], data: Record<string, unknown> = {}, reason: string | null = null): StageRecord => ({
  runId: 7, name, status, startedAt: 1, finishedAt: 2, actor: 'github-shop', outputTail: '', reason, data,
});
const checklist = (o: { ci: CiOrigin; stages: StageRecord[] }) => Object.fromEntries(
  buildChecklist({ run, stages: o.stages, approvals: [], approvalsRequired: 1, rollbackArtefactPresent: null, ci: o.ci }).map((i) => [i.id, i]),
);

describe('the checklist of a run a CI built', () => {
  const stages = [
    stage('build', 'succeeded', { mainBranch: 'main' }),
    stage('test', 'succeeded', { ...ci.testReport }),
    stage('package', 'succeeded', { digest: run.artefactDigest, version: '1.2.0', files: 5, keyId: 'k1' }),
  ];

  it("attests the CI's branch and test counts with the job's link, and proves only what the server checked", () => {
    const items = checklist({ ci, stages });
    expect(items['code-on-main']).toMatchObject({ status: 'attested' });
    expect(items['code-on-main']!.evidence).toBe(`GitHub Actions job ${ci.jobUrl} says it built commit ${run.commit} from branch main; the server has no repository to check it against`);
    expect(items['tests-passed']).toMatchObject({ status: 'attested' });
    expect(items['tests-passed']!.evidence).toBe(`tests ran in GitHub Actions job ${ci.jobUrl}: JUnit XML report sha256:eeeeeeeeeeee… says 11/12 passed, 0 failed, 1 skipped in 3200 ms`);
    expect(items['artefact-signed']).toMatchObject({ status: 'proven' });
    expect(items['artefact-signed']!.evidence).toMatch(/^built in GitHub Actions job .*; sha256:d{64} checked by the server on upload, version 1\.2\.0, 5 files, manifest signed by key k1$/);
  });

  it('fails code-on-main for another branch and says so when the CI named none', () => {
    expect(checklist({ ci: { ...ci, branch: 'feature-x' }, stages })['code-on-main']).toMatchObject({ status: 'failed', evidence: expect.stringMatching(/from branch feature-x, not main/) });
    expect(checklist({ ci: { ...ci, branch: null }, stages })['code-on-main']).toMatchObject({ status: 'missing', evidence: expect.stringMatching(/named no branch/) });
  });

  it('has tests missing without a report and failed with failing tests', () => {
    const skipped = [stages[0]!, stage('test', 'skipped', {}, 'no report'), stages[2]!];
    expect(checklist({ ci: { ...ci, testReport: null }, stages: skipped })['tests-passed']).toMatchObject({ status: 'missing', evidence: expect.stringMatching(/sent no test report/) });
    const failed = [stages[0]!, stage('test', 'failed', {}, "the CI's test report has 1 failing test(s): api › answers")];
    expect(checklist({ ci, stages: failed })['tests-passed']).toMatchObject({ status: 'failed', evidence: expect.stringMatching(/api › answers/) });
  });
});
