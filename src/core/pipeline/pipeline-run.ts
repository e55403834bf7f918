// A pipeline run: one commit taken through build → test → package → staging →
// acceptance → replay → staging health → rollback drill → approval → production → watch.
// The records the store keeps and the pure rules over them; the engine acts.

export const STAGES = [
  'build',
  'test',
  'package',
  'staging_deploy',
  'acceptance',
  'replay',
  'staging_health',
  'rollback_drill',
  'approval',
  'production_deploy',
  'watch',
] as const;
export type StageName = (typeof STAGES)[number];

export function isStageName(s: string): s is StageName {
  return (STAGES as readonly string[]).includes(s);
}

/** waiting: held by a gate (approval, a freeze window) that the run will pass when it opens. */
export type StageStatus = 'pending' | 'running' | 'waiting' | 'succeeded' | 'failed' | 'skipped';
export type RunStatus = 'running' | 'waiting' | 'succeeded' | 'failed';

/** The statuses a run ends in (a failed run may be re-run: that starts a new attempt). */
export const FINISHED_RUN_STATUSES: readonly RunStatus[] = ['succeeded', 'failed'];

export function isRunFinished(s: string): boolean {
  return (FINISHED_RUN_STATUSES as readonly string[]).includes(s);
}

export interface PipelineRun {
  id: number;
  service: string;
  /** The repository the run was built from (a path on the server's machine). */
  repo: string;
  /** What the user asked for (a branch, tag or sha). */
  ref: string;
  commit: string;
  version: string;
  status: RunStatus;
  /** The stage the run is at (or stopped at). */
  stage: StageName;
  reason: string | null;
  startedBy: string;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
  /** slipway.yaml as committed at `commit`: the run's config, read again on resume. */
  configText: string;
  artefactDigest: string | null;
  /** How many times the run was started (1, then +1 per re-run). */
  attempt: number;
}

export interface StageRecord {
  runId: number;
  name: StageName;
  status: StageStatus;
  startedAt: number | null;
  finishedAt: number | null;
  actor: string | null;
  /** The last lines of the stage's commands' output. */
  outputTail: string;
  reason: string | null;
  /** What the stage proved, as evidence for the checklist (see StageFacts). */
  data: Record<string, unknown>;
}

export interface ApprovalRecord {
  id: number;
  runId: number;
  actor: string;
  decision: 'approve' | 'reject';
  reason: string | null;
  /** The approver's roles when the request carried them; null: not known (no auth in front). */
  roles: string[] | null;
  at: number;
  /** The run's attempt it was given in: a re-run after a rejection asks again. */
  attempt: number;
}

/** An artefact's signed manifest. */
export interface ArtefactManifest {
  service: string;
  version: string;
  /** 'sha256:<hex>' of the .tar.gz. */
  digest: string;
  commit: string | null;
  builtAt: number;
  builder: string;
  tests: TestSummary | null;
  /** sha256 of every file packed, by path. */
  files: Record<string, string>;
  /** build: made by a pipeline run; upload: received from `slipway deploy`; ci: built by a hosted CI and uploaded by `slipway ci-release`. */
  origin: 'build' | 'upload' | 'ci';
  runId: number | null;
}

export interface TestSummary {
  command: string | null;
  passed: boolean;
  /** Counts read from the output when the runner prints them (TAP, node --test); null otherwise. */
  tests: number | null;
  pass: number | null;
  fail: number | null;
  durationMs: number;
  exitCode: number | null;
}

/** The manifest's bytes as signed: keys sorted at every level, so any reader can rebuild them. */
export function canonicalManifest(m: ArtefactManifest): string {
  return canonical(m);
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

/** Semver from a tag (v1.2.3 or 1.2.3) pointing at the commit, else 0.0.0+<short sha>. */
export function versionFor(tags: string[], commit: string): string {
  const semver = /^v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)$/;
  const found = tags.map((t) => semver.exec(t.trim())?.[1]).filter((v): v is string => !!v).sort(compareSemverDesc);
  return found[0] ?? `0.0.0+${commit.slice(0, 7)}`;
}

function compareSemverDesc(a: string, b: string): number {
  const pa = a.split(/[-+]/)[0]!.split('.').map(Number);
  const pb = b.split(/[-+]/)[0]!.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pb[i]! - pa[i]!;
  return a.length - b.length;
}

/** Reads test counts from node --test / TAP output ("# tests 3", "# pass 3", "# fail 0"). */
export function summariseTestOutput(output: string): Pick<TestSummary, 'tests' | 'pass' | 'fail'> {
  const count = (name: string) => {
    const m = new RegExp(`^[#ℹ]\\s*${name}\\s+(\\d+)\\s*$`, 'm').exec(output);
    return m ? Number(m[1]) : null;
  };
  return { tests: count('tests'), pass: count('pass'), fail: count('fail') };
}

export interface ApprovalVerdict {
  ok: boolean;
  /** Why an approval is refused, for the person who asked. */
  refusal: string | null;
}

/**
 * May `actor` approve this run under `policy`? (A rejection asks too, with `given: []`.)
 * The dashboard offers its buttons by a copy of this (src/ui/approval-refusal.js);
 * test/dashboard-approval-rule.test.ts fails when the two part.
 */
export function approvalRefusal(o: {
  run: Pick<PipelineRun, 'id' | 'startedBy' | 'status' | 'stage' | 'attempt'>;
  policy: { count: number; roles: string[]; distinctFromStarter: boolean };
  actor: string;
  roles: string[] | null;
  given: ApprovalRecord[];
  /** What is asked; the same rule holds for both, in their own words. Default 'approve'. */
  decision?: 'approve' | 'reject';
}): string | null {
  const { run, policy, actor } = o;
  const verb = o.decision ?? 'approve';
  if (isRunFinished(run.status)) return `run #${run.id} has ${run.status}; there is nothing to ${verb}`;
  if (policy.distinctFromStarter && actor === run.startedBy) {
    return `four eyes: ${actor} started run #${run.id} and may not ${verb} it; another user must ${verb === 'approve' ? 'approve' : 'decide'}`;
  }
  if (policy.roles.length > 0 && o.roles !== null && !o.roles.some((r) => policy.roles.includes(r))) {
    return `${verb === 'approve' ? 'approving' : 'rejecting'} run #${run.id} needs one of the roles ${policy.roles.join(', ')}; ${actor} has ${o.roles.length ? o.roles.join(', ') : 'none'}`;
  }
  if (o.given.some((a) => a.attempt === run.attempt && a.actor === actor && a.decision === 'approve')) {
    return `${actor} has already approved run #${run.id}; approvals must come from ${policy.count} different users`;
  }
  return null;
}

/** Approvals of the run's current attempt that count (distinct approvers). */
export function countedApprovals(given: ApprovalRecord[], attempt: number): ApprovalRecord[] {
  const seen = new Set<string>();
  return given.filter((a) => a.attempt === attempt && a.decision === 'approve' && !seen.has(a.actor) && seen.add(a.actor));
}
