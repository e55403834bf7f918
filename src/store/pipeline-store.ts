// Typed queries over pipeline runs, their stages and approvals, and artefact
// manifests. Rows become core records here; JSON columns are parsed once.

import { SlipwayError } from '../core/errors.ts';
import { FINISHED_RUN_STATUSES, type ApprovalRecord, type ArtefactManifest, type PipelineRun, type RunStatus, type StageName, type StageRecord, type StageStatus } from '../core/pipeline/pipeline-run.ts';
import type { Db } from './open-database.ts';

type Row = Record<string, unknown>;

function json<T>(text: unknown, what: string): T {
  try {
    return JSON.parse(String(text)) as T;
  } catch (e) {
    throw new SlipwayError('E_STATE_CORRUPT', `state.db holds unreadable JSON in ${what}`, {}, { cause: e });
  }
}

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
const text = (v: unknown) => (v === null || v === undefined ? null : String(v));

const toRun = (r: Row): PipelineRun => ({
  id: Number(r.id), service: String(r.service), repo: String(r.repo), ref: String(r.ref), commit: String(r.commit_sha), version: String(r.version),
  status: r.status as RunStatus, stage: r.stage as StageName, reason: text(r.reason), startedBy: String(r.started_by),
  createdAt: Number(r.created_at), updatedAt: Number(r.updated_at), finishedAt: num(r.finished_at), configText: String(r.config_text),
  artefactDigest: text(r.artefact_digest), attempt: Number(r.attempt),
});

const toStage = (r: Row): StageRecord => ({
  runId: Number(r.run_id), name: r.name as StageName, status: r.status as StageStatus, startedAt: num(r.started_at), finishedAt: num(r.finished_at),
  actor: text(r.actor), outputTail: String(r.output_tail), reason: text(r.reason), data: json<Record<string, unknown>>(r.data_json, `stage ${String(r.name)} of run ${String(r.run_id)}`),
});

const toApproval = (r: Row): ApprovalRecord => ({
  id: Number(r.id), runId: Number(r.run_id), actor: String(r.actor), decision: r.decision as ApprovalRecord['decision'], reason: text(r.reason),
  roles: r.roles_json === null ? null : json<string[]>(r.roles_json, 'approval roles'), at: Number(r.at), attempt: Number(r.attempt),
});

/** Which runs a list takes: those with this status, at this stage; a field left out takes any. */
export interface RunFilter {
  status?: RunStatus | undefined;
  stage?: StageName | undefined;
}

// A condition per field given, and none for one left out (rather than `? IS NULL OR
// status = ?`), so that SQLite can use an index on the column.
function whereOf(filter: RunFilter): [sql: string, value: string | number][] {
  const where: [string, string | number][] = [];
  if (filter.status !== undefined) where.push(['status = ?', filter.status]);
  if (filter.stage !== undefined) where.push(['stage = ?', filter.stage]);
  return where;
}

const sqlOf = (where: [string, unknown][]) => (where.length ? `WHERE ${where.map(([sql]) => sql).join(' AND ')}` : '');

export interface StoredManifest {
  manifest: ArtefactManifest;
  /** The exact bytes that were signed. */
  signedText: string;
  signature: string;
  keyId: string;
  createdAt: number;
}

const ALL_RUN_STATUSES: Record<RunStatus, true> = { running: true, waiting: true, succeeded: true, failed: true };
const UNFINISHED = (Object.keys(ALL_RUN_STATUSES) as RunStatus[]).filter((s) => !FINISHED_RUN_STATUSES.includes(s));

export class PipelineStore {
  constructor(private readonly db: Db) {}

  insertRun(r: Omit<PipelineRun, 'id'>): PipelineRun {
    const info = this.db.prepare(
      `INSERT INTO pipeline_runs (service, repo, ref, commit_sha, version, status, stage, reason, started_by, created_at, updated_at, finished_at, config_text, artefact_digest, attempt)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(r.service, r.repo, r.ref, r.commit, r.version, r.status, r.stage, r.reason, r.startedBy, r.createdAt, r.updatedAt, r.finishedAt, r.configText, r.artefactDigest, r.attempt);
    return { ...r, id: Number(info.lastInsertRowid) };
  }

  saveRun(r: PipelineRun): void {
    this.db.prepare(
      `UPDATE pipeline_runs SET service = ?, version = ?, status = ?, stage = ?, reason = ?, updated_at = ?, finished_at = ?, config_text = ?, artefact_digest = ?, attempt = ? WHERE id = ?`,
    ).run(r.service, r.version, r.status, r.stage, r.reason, r.updatedAt, r.finishedAt, r.configText, r.artefactDigest, r.attempt, r.id);
  }

  getRun(id: number): PipelineRun | null {
    const r = this.db.prepare('SELECT * FROM pipeline_runs WHERE id = ?').get(id) as Row | undefined;
    return r ? toRun(r) : null;
  }

  /** Runs, newest first: `limit` of them, with ids below `beforeId` when given, of those `filter` takes. */
  listRuns(limit = 50, beforeId: number | null = null, filter: RunFilter = {}): PipelineRun[] {
    const where = whereOf(filter);
    if (beforeId !== null) where.push(['id < ?', beforeId]);
    return (this.db.prepare(`SELECT * FROM pipeline_runs ${sqlOf(where)} ORDER BY id DESC LIMIT ?`).all(...where.map(([, v]) => v), limit) as Row[]).map(toRun);
  }

  countRuns(filter: RunFilter = {}): number {
    const where = whereOf(filter);
    return Number((this.db.prepare(`SELECT COUNT(*) AS n FROM pipeline_runs ${sqlOf(where)}`).get(...where.map(([, v]) => v)) as Row).n);
  }

  /** The newest run that built (or, from a CI, received) this artefact. */
  newestRunOfArtefact(digest: string): PipelineRun | null {
    const r = this.db.prepare('SELECT * FROM pipeline_runs WHERE artefact_digest = ? ORDER BY id DESC LIMIT 1').get(digest) as Row | undefined;
    return r ? toRun(r) : null;
  }

  /** The newest run of a commit that has not failed: what a second delivery of its push is answered with. */
  newestUnfailedRunOfCommit(commit: string): PipelineRun | null {
    const r = this.db.prepare("SELECT * FROM pipeline_runs WHERE commit_sha = ? AND status != 'failed' ORDER BY id DESC LIMIT 1").get(commit) as Row | undefined;
    return r ? toRun(r) : null;
  }

  unfinishedRuns(): PipelineRun[] {
    // Named as the statuses a run is still in, so the status index serves it (migration 16).
    return (this.db.prepare(`SELECT * FROM pipeline_runs WHERE status IN (${UNFINISHED.map((s) => `'${s}'`).join(', ')}) ORDER BY id`).all() as Row[]).map(toRun);
  }

  /** The newest run of a service that reached production, before run `beforeId`. */
  lastProductionRun(service: string, beforeId: number): PipelineRun | null {
    const r = this.db.prepare(
      `SELECT r.* FROM pipeline_runs r JOIN pipeline_stages s ON s.run_id = r.id AND s.name = 'production_deploy' AND s.status = 'succeeded'
       WHERE r.service = ? AND r.id < ? ORDER BY r.id DESC LIMIT 1`,
    ).get(service, beforeId) as Row | undefined;
    return r ? toRun(r) : null;
  }

  stages(runId: number): StageRecord[] {
    return (this.db.prepare('SELECT * FROM pipeline_stages WHERE run_id = ?').all(runId) as Row[]).map(toStage);
  }

  getStage(runId: number, name: StageName): StageRecord | null {
    const r = this.db.prepare('SELECT * FROM pipeline_stages WHERE run_id = ? AND name = ?').get(runId, name) as Row | undefined;
    return r ? toStage(r) : null;
  }

  saveStage(s: StageRecord): void {
    this.db.prepare(
      `INSERT INTO pipeline_stages (run_id, name, status, started_at, finished_at, actor, output_tail, reason, data_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(run_id, name) DO UPDATE SET status = excluded.status, started_at = excluded.started_at, finished_at = excluded.finished_at,
         actor = excluded.actor, output_tail = excluded.output_tail, reason = excluded.reason, data_json = excluded.data_json`,
    ).run(s.runId, s.name, s.status, s.startedAt, s.finishedAt, s.actor, s.outputTail, s.reason, JSON.stringify(s.data));
  }

  addApproval(a: Omit<ApprovalRecord, 'id'>): ApprovalRecord {
    const info = this.db.prepare('INSERT INTO pipeline_approvals (run_id, actor, decision, reason, roles_json, at, attempt) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(a.runId, a.actor, a.decision, a.reason, a.roles === null ? null : JSON.stringify(a.roles), a.at, a.attempt);
    return { ...a, id: Number(info.lastInsertRowid) };
  }

  approvals(runId: number): ApprovalRecord[] {
    return (this.db.prepare('SELECT * FROM pipeline_approvals WHERE run_id = ? ORDER BY id').all(runId) as Row[]).map(toApproval);
  }

  /** Has any run with this artefact been approved in its attempt? */
  hasApprovedRun(digest: string): boolean {
    return this.db.prepare(
      "SELECT 1 FROM pipeline_runs r JOIN pipeline_stages s ON s.run_id = r.id AND s.name = 'approval' AND s.status = 'succeeded' WHERE r.artefact_digest = ? LIMIT 1",
    ).get(digest) !== undefined;
  }

  /** `replace`: a build's full manifest takes the place of an upload's short one. */
  putManifest(digest: string, m: { signedText: string; signature: string; keyId: string; createdAt: number }, replace = false): void {
    this.db.prepare(`INSERT OR ${replace ? 'REPLACE' : 'IGNORE'} INTO artefact_manifests (digest, manifest_json, signature, key_id, created_at) VALUES (?, ?, ?, ?, ?)`)
      .run(digest, m.signedText, m.signature, m.keyId, m.createdAt);
  }

  getManifest(digest: string): StoredManifest | null {
    const r = this.db.prepare('SELECT * FROM artefact_manifests WHERE digest = ?').get(digest) as Row | undefined;
    if (!r) return null;
    return { manifest: json<ArtefactManifest>(r.manifest_json, `manifest of ${digest}`), signedText: String(r.manifest_json), signature: String(r.signature), keyId: String(r.key_id), createdAt: Number(r.created_at) };
  }

  /** Artefacts of a service, newest first, with whether any release still refers to them. */
  artefactsOf(service: string): { digest: string; path: string; createdAt: number; inRelease: boolean }[] {
    return (this.db.prepare(
      `SELECT a.digest, a.path, a.created_at, EXISTS (SELECT 1 FROM releases r WHERE r.artefact_digest = a.digest) AS in_release
       FROM artefacts a WHERE a.service = ? ORDER BY a.created_at DESC, a.rowid DESC`,
    ).all(service) as Row[]).map((r) => ({ digest: String(r.digest), path: String(r.path), createdAt: Number(r.created_at), inRelease: Number(r.in_release) === 1 }));
  }

  /** Forgets a collected artefact (never one a release refers to) and its manifest. */
  deleteArtefact(digest: string): void {
    this.db.prepare('DELETE FROM artefact_manifests WHERE digest = ?').run(digest);
    this.db.prepare('DELETE FROM artefacts WHERE digest = ? AND NOT EXISTS (SELECT 1 FROM releases r WHERE r.artefact_digest = artefacts.digest)').run(digest);
  }

  /** Did a rollout of this artefact to `env` succeed? Returns the release number, or null. */
  succeededIn(env: string, digest: string): number | null {
    const r = this.db.prepare(
      `SELECT rel.number FROM rollouts ro JOIN releases rel ON rel.id = ro.to_release_id
       WHERE ro.env = ? AND ro.phase = 'succeeded' AND rel.artefact_digest = ? ORDER BY ro.id DESC LIMIT 1`,
    ).get(env, digest) as Row | undefined;
    return r ? Number(r.number) : null;
  }
}
