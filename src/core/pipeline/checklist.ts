// The deployment checklist of a release: ten items, each proven, missing or failed,
// read from what the run recorded. Nothing here can be ticked by hand: every item is
// a function of stage records and approvals. A run built by a hosted CI has its
// first items attested instead: the CI's account, which the server records but
// cannot check (see ci-checklist.ts).

import type { CiOrigin } from './ci-origin.ts';
import { ciBuildItems } from './ci-checklist.ts';
import { countedApprovals, type ApprovalRecord, type PipelineRun, type StageName, type StageRecord } from './pipeline-run.ts';

/** attested: the CI that built the artefact says so (with a link to its job); the server could not check it. */
export type ChecklistStatus = 'proven' | 'attested' | 'missing' | 'failed';

export interface ChecklistItem {
  id: string;
  title: string;
  status: ChecklistStatus;
  /** What proves it, or what is missing, or what failed. */
  evidence: string;
}

export interface ChecklistInput {
  run: PipelineRun;
  stages: StageRecord[];
  approvals: ApprovalRecord[];
  /** Approvals the production environment's policy asks for. */
  approvalsRequired: number;
  /** Is the rollback target's artefact on the server now? null: there is no rollback target. */
  rollbackArtefactPresent: boolean | null;
  /** The CI's account when a hosted CI built the artefact (slipway ci-release); absent: the server built it. */
  ci?: CiOrigin | null;
}

type Data = Record<string, unknown>;

export function buildChecklist(input: ChecklistInput): ChecklistItem[] {
  const stage = (name: StageName): StageRecord | undefined => input.stages.find((s) => s.name === name);
  const data = (name: StageName): Data => stage(name)?.data ?? {};
  const str = (v: unknown) => (typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v));
  const item = (id: string, title: string, status: ChecklistStatus, evidence: string): ChecklistItem => ({ id, title, status, evidence });
  const fromStage = (name: StageName, id: string, title: string, proven: () => string, notYet: string): ChecklistItem => {
    const s = stage(name);
    if (s?.status === 'succeeded') return item(id, title, 'proven', proven());
    if (s?.status === 'failed') return item(id, title, 'failed', `${name} failed: ${s.reason ?? 'no reason recorded'}`);
    return item(id, title, 'missing', notYet);
  };
  const { run } = input;
  const items: ChecklistItem[] = [];

  if (input.ci) items.push(...ciBuildItems({ run, ci: input.ci, stage, data }));
  else {
    const build = data('build');
    const branch = str(build['mainBranch']) || 'main';
    items.push(
      build['onMainBranch'] === true
        ? item('code-on-main', 'code at a commit on the main branch', 'proven', `commit ${run.commit} is on ${branch} (${str(build['branchEvidence'])})`)
        : build['onMainBranch'] === false
          ? item('code-on-main', 'code at a commit on the main branch', 'failed', `commit ${run.commit} is not on ${branch}`)
          : item('code-on-main', 'code at a commit on the main branch', 'missing', 'the build stage has not checked the commit'),
    );

    items.push(fromStage('test', 'tests-passed', 'tests passed', () => {
      const t = data('test');
      const counts = t['tests'] !== null && t['tests'] !== undefined ? `${str(t['pass'])}/${str(t['tests'])} passed` : 'exit code 0';
      return `\`${str(t['command']) || '(no test command)'}\`: ${counts} in ${str(t['durationMs'])} ms`;
    }, 'the tests have not run'));

    items.push(fromStage('package', 'artefact-signed', 'artefact built, tagged and signed', () => {
      const p = data('package');
      return `${str(p['digest'])} version ${str(p['version'])}, ${str(p['files'])} files, signed by key ${str(p['keyId'])}`;
    }, 'no artefact has been packed and signed'));
  }

  items.push(fromStage('staging_deploy', 'staging-deployed', 'staging deploy succeeded', () => {
    const s = data('staging_deploy');
    return `${str(s['env'])}#${str(s['release'])} (rollout #${str(s['rollout'])}) succeeded with ${str(run.artefactDigest)}`;
  }, 'not deployed to staging'));

  items.push(fromStage('staging_health', 'staging-healthy', 'health confirmed on staging', () => {
    const h = data('staging_health');
    return `${str(h['healthyProbes'])}/${str(h['probes'])} probes of ${str(h['url'])} healthy over ${str(h['windowMs'])} ms; all ${str(h['readyInstances'])} instances ready`;
  }, 'staging health has not been watched'));

  const h = data('staging_health');
  const healthOk = typeof h['healthyProbes'] === 'number' && (h['healthyProbes'] as number) > 0;
  const metrics = typeof h['requestsCounted'] === 'number' ? (h['requestsCounted'] as number) : null;
  items.push(
    healthOk && metrics !== null && metrics > 0
      ? item('observability', 'observability in place (health endpoint and metrics)', 'proven', `health endpoint answered ${str(h['healthyProbes'])} times; the router counted ${metrics} requests to the release during the window`)
      : stage('staging_health')?.status === 'failed' || (stage('staging_health')?.status === 'succeeded' && (!healthOk || !metrics))
        ? item('observability', 'observability in place (health endpoint and metrics)', 'failed', `health answers: ${healthOk ? 'yes' : 'no'}; requests counted: ${metrics ?? 'none'}`)
        : item('observability', 'observability in place (health endpoint and metrics)', 'missing', 'no health or metrics evidence recorded yet'),
  );

  const prod = data('production_deploy');
  const notes = str(prod['releaseNotes']);
  const target = prod['rollbackTarget'] as Data | null | undefined;
  items.push(
    notes && target
      ? item('notes-and-rollback-target', 'release notes and rollback target recorded', 'proven', `notes (${str(prod['releaseNotesSource'])}, ${notes.length} chars); rollback target ${str(target['env'])}#${str(target['release'])} (${str(target['digest']).slice(0, 19)}…)`)
      : item('notes-and-rollback-target', 'release notes and rollback target recorded', 'missing',
        !('releaseNotes' in prod) ? 'recorded when the production stage starts' : !notes ? 'no release notes' : 'no earlier production release to roll back to'),
  );

  const counted = countedApprovals(input.approvals, run.attempt);
  const rejected = input.approvals.find((a) => a.attempt === run.attempt && a.decision === 'reject');
  items.push(
    rejected
      ? item('approved', 'approval given', 'failed', `rejected by ${rejected.actor}: ${rejected.reason ?? ''}`)
      : stage('approval')?.status === 'succeeded' || (input.approvalsRequired > 0 && counted.length >= input.approvalsRequired)
        ? item('approved', 'approval given', 'proven', input.approvalsRequired === 0 && counted.length === 0
          ? 'the policy asks for no approval'
          : `approved by ${counted.map((a) => `${a.actor} at ${new Date(a.at).toISOString()}`).join(', ')} (${counted.length}/${input.approvalsRequired} needed; started by ${run.startedBy})`)
        : item('approved', 'approval given', 'missing', `${counted.length}/${input.approvalsRequired} approvals`),
  );

  const watch = stage('watch');
  items.push(
    watch?.status === 'succeeded'
      ? item('production-watched', 'production deploy completed and watched', 'proven', `${str(prod['env'])}#${str(prod['release'])} (rollout #${str(prod['rollout'])}, ${str(prod['strategy'])}) succeeded; watched ${str(data('watch')['watchMs'])} ms with no rollback`)
      : stage('production_deploy')?.status === 'failed' || watch?.status === 'failed'
        ? item('production-watched', 'production deploy completed and watched', 'failed', (watch?.status === 'failed' ? watch.reason : stage('production_deploy')?.reason) ?? 'failed')
        : item('production-watched', 'production deploy completed and watched', 'missing', 'production has not been deployed'),
  );

  const drill = stage('rollback_drill');
  const title = 'rollback available (previous artefact present) and tested (drill passed)';
  items.push(
    drill?.status === 'failed'
      ? item('rollback-ready', title, 'failed', `rollback drill failed: ${drill.reason ?? ''}`)
      : input.rollbackArtefactPresent === false
        ? item('rollback-ready', title, 'failed', `the rollback target's artefact ${str(target?.['digest'])} is no longer on the server`)
        : input.rollbackArtefactPresent === true && drill?.status === 'succeeded'
          ? item('rollback-ready', title, 'proven', `artefact ${str(target?.['digest']).slice(0, 19)}… present; drill: ${str(drill.data['summary'])}`)
          : item('rollback-ready', title, 'missing', [
            input.rollbackArtefactPresent === null ? 'no rollback target recorded' : 'rollback target present',
            drill?.status === 'succeeded' ? 'drill passed' : drill?.status === 'skipped' ? `drill skipped: ${drill.reason ?? ''}` : 'drill not run',
          ].join('; ')),
  );
  return items;
}
