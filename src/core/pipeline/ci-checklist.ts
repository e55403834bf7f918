// The checklist's first three items for a run whose artefact a hosted CI built and
// tested. The server did not see the build: what the CI says about the commit, the
// branch and the tests is "attested" (recorded with a link to the job), never
// "proven". What the server does check, the artefact's digest on arrival and its own
// signature over the manifest, stays "proven".

import { ciProviderLabel, type CiOrigin } from './ci-origin.ts';
import type { PipelineRun, StageName, StageRecord } from './pipeline-run.ts';

interface Item {
  id: string;
  title: string;
  status: 'proven' | 'attested' | 'missing' | 'failed';
  evidence: string;
}

const str = (v: unknown) => (typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v));

export function ciBuildItems(o: {
  run: PipelineRun;
  ci: CiOrigin;
  stage: (name: StageName) => StageRecord | undefined;
  data: (name: StageName) => Record<string, unknown>;
}): Item[] {
  const { run, ci } = o;
  const by = `${ciProviderLabel(ci.provider)}${ci.jobUrl ? ` job ${ci.jobUrl}` : ''}`;
  const notChecked = 'the server has no repository to check it against';
  const main = str(o.data('build')['mainBranch']) || 'main';

  const onMain: Item = { id: 'code-on-main', title: 'code at a commit on the main branch', status: 'missing', evidence: '' };
  if (ci.branch === main) Object.assign(onMain, { status: 'attested', evidence: `${by} says it built commit ${run.commit} from branch ${main}; ${notChecked}` });
  else if (ci.branch !== null) Object.assign(onMain, { status: 'failed', evidence: `${by} built commit ${run.commit} from branch ${ci.branch}, not ${main}` });
  else onMain.evidence = `${by} named no branch for commit ${run.commit} (a tag or merge-request build)`;

  const test = o.stage('test');
  const t = o.data('test');
  const tests: Item = { id: 'tests-passed', title: 'tests passed', status: 'missing', evidence: '' };
  if (test?.status === 'succeeded') {
    const took = typeof t['durationMs'] === 'number' ? ` in ${str(t['durationMs'])} ms` : '';
    Object.assign(tests, {
      status: 'attested',
      evidence: `tests ran in ${by}: ${str(t['format']) === 'junit' ? 'JUnit XML' : 'TAP'} report ${str(t['digest']).slice(0, 19)}… says ${str(t['pass'])}/${str(t['tests'])} passed, ${str(t['fail'])} failed, ${str(t['skipped'])} skipped${took}`,
    });
  } else if (test?.status === 'failed') Object.assign(tests, { status: 'failed', evidence: `test failed: ${test.reason ?? 'no reason recorded'}` });
  else tests.evidence = test?.status === 'skipped' ? `${by} sent no test report (slipway ci-release --test-report)` : 'the CI test report has not been read';

  const pack = o.stage('package');
  const p = o.data('package');
  const artefact: Item = { id: 'artefact-signed', title: 'artefact built, tagged and signed', status: 'missing', evidence: 'no artefact has been received and signed' };
  if (pack?.status === 'succeeded') {
    Object.assign(artefact, {
      status: 'proven',
      evidence: `built in ${by}; ${str(p['digest'])} checked by the server on upload${ci.signedBy ? `, signed in CI by registered key ${ci.signedBy.key} (${ci.signedBy.keyId}, verified)` : ''}, version ${str(p['version'])}, ${str(p['files'])} files, manifest signed by key ${str(p['keyId'])}`,
    });
  } else if (pack?.status === 'failed') Object.assign(artefact, { status: 'failed', evidence: `package failed: ${pack.reason ?? 'no reason recorded'}` });
  return [onMain, tests, artefact];
}
