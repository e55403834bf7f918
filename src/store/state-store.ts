// Typed queries over state.db. The only code that writes SQL; rows are parsed into
// core records here so nothing above sees a column name.

import { SlipwayError } from '../core/errors.ts';
import type { ArtefactRecord, InstanceRecord, InstanceState, MetricSample, ReleaseConfig, ReleaseRecord, RolloutEventRecord } from '../core/records.ts';
import type { RuntimeName } from '../core/service-config.ts';
import { TERMINAL_PHASES, type Rollout, type RolloutKind, type RolloutPhase, type RolloutPlan } from '../core/rollout.ts';
import { AuditLog } from './audit-log.ts';
import { ConfigStore } from './config-store.ts';
import { TokenStore } from './token-store.ts';
import { openDatabase, type Db } from './open-database.ts';
import { ObserveStore } from './observe-store.ts';
import { AnalysisWindowStore } from './analysis-window-store.ts';
import { TrafficGateStore } from './traffic-gate-store.ts';
import { PipelineStore } from './pipeline-store.ts';
import { RetentionStore } from './retention-store.ts';

/** The phases a rollout ends in, as an SQL list (core/rollout.ts has the one definition). */
const TERMINAL_SQL = TERMINAL_PHASES.map((p) => `'${p}'`).join(', ');

type Row = Record<string, unknown>;

/** One release of an environment on a cluster, as slipway last set it. */
export interface ClusterReplicas {
  releaseId: number;
  replicas: number;
  serving: number;
}

function parseJson<T>(text: unknown, what: string): T {
  try {
    return JSON.parse(String(text)) as T;
  } catch (e) {
    throw new SlipwayError('E_STATE_CORRUPT', `state.db holds unreadable JSON in ${what}`, {}, { cause: e });
  }
}

const toArtefact = (r: Row): ArtefactRecord => ({
  digest: String(r.digest), service: String(r.service), bytes: Number(r.bytes), path: String(r.path), createdAt: Number(r.created_at),
});

/** Releases recorded before config versions and secrets existed have none of either. */
function releaseConfigOf(r: Row): ReleaseConfig {
  const c = parseJson<ReleaseConfig>(r.config_json, `release ${String(r.id)}`);
  return {
    ...c, configVersion: c.configVersion ?? null, overrides: c.overrides ?? {}, secrets: c.secrets ?? {},
    image: c.image ?? { dockerfile: 'Dockerfile', ref: null },
    environment: { ...c.environment, secrets: c.environment.secrets ?? {}, runtime: c.environment.runtime ?? 'process', resources: c.environment.resources ?? null },
  };
}

const toRelease = (r: Row): ReleaseRecord => ({
  id: Number(r.id), env: String(r.env), number: Number(r.number), service: String(r.service),
  artefactDigest: String(r.artefact_digest), config: releaseConfigOf(r),
  configHash: String(r.config_hash), dir: String(r.dir), imageId: r.image_id == null ? null : String(r.image_id), createdAt: Number(r.created_at), createdBy: String(r.created_by),
});

const toRollout = (r: Row): Rollout => ({
  id: Number(r.id), env: String(r.env), kind: r.kind as RolloutKind,
  fromReleaseId: r.from_release_id === null ? null : Number(r.from_release_id), toReleaseId: Number(r.to_release_id),
  phase: r.phase as RolloutPhase, plan: parseJson<RolloutPlan>(r.plan_json, `rollout ${String(r.id)}`),
  stepIndex: Number(r.step_index), stepStartedAt: r.step_started_at === null ? null : Number(r.step_started_at),
  traffic: r.traffic_json === null ? null : parseJson<Record<string, number>>(r.traffic_json, `rollout ${String(r.id)} traffic`),
  preview: r.preview_release_id === null ? null : Number(r.preview_release_id), reason: r.reason === null ? null : String(r.reason), createdBy: String(r.created_by),
  createdAt: Number(r.created_at), updatedAt: Number(r.updated_at), finishedAt: r.finished_at === null ? null : Number(r.finished_at),
});

const toInstance = (r: Row): InstanceRecord => ({
  id: String(r.id), env: String(r.env), releaseId: Number(r.release_id),
  runtime: (r.runtime ?? 'process') as RuntimeName, runtimeRef: r.runtime_ref == null ? null : String(r.runtime_ref), port: Number(r.port),
  pid: r.pid === null ? null : Number(r.pid), procStart: r.proc_start === null ? null : String(r.proc_start),
  state: r.state as InstanceState, logPath: String(r.log_path), lastError: r.last_error === null ? null : String(r.last_error),
  createdAt: Number(r.created_at), readyAt: r.ready_at === null ? null : Number(r.ready_at),
  stoppedAt: r.stopped_at === null ? null : Number(r.stopped_at),
});

const toEvent = (r: Row): RolloutEventRecord => ({
  id: Number(r.id), rolloutId: Number(r.rollout_id), ts: Number(r.ts), level: r.level as RolloutEventRecord['level'],
  message: String(r.message), data: r.data_json === null ? null : parseJson<Record<string, unknown>>(r.data_json, 'event'),
});

export class StateStore {
  readonly db: Db;
  /** Config versions and stored secrets. */
  readonly configs: ConfigStore;
  readonly tokens: TokenStore;
  readonly audit: AuditLog;
  /** The event log, failed notifications, and counts for /metrics. */
  readonly observe: ObserveStore;
  /** Pipeline runs, approvals and artefact manifests. */
  readonly pipeline: PipelineStore;
  /** Where analysis and watch windows began, for a restarted server to resume them. */
  readonly windows: AnalysisWindowStore;
  /** Maintenance and traffic pauses per environment (pushed to the router with its routes). */
  readonly trafficGates: TrafficGateStore;
  /** Releases retired by retention (engine/release-retention.ts). */
  readonly retention: RetentionStore;

  constructor(file: string) {
    this.db = openDatabase(file);
    this.configs = new ConfigStore(this.db);
    this.tokens = new TokenStore(this.db);
    this.audit = new AuditLog(this.db);
    this.observe = new ObserveStore(this.db);
    this.pipeline = new PipelineStore(this.db);
    this.windows = new AnalysisWindowStore(this.db);
    this.trafficGates = new TrafficGateStore(this.db);
    this.retention = new RetentionStore(this.db);
  }

  close(): void {
    this.db.close();
  }

  /** Runs fn in one transaction: all of its writes land, or none. */
  atomically<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  // --- meta

  getMeta(key: string): string | null {
    const r = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as Row | undefined;
    return r ? String(r.value) : null;
  }

  setMeta(key: string, value: string): void {
    this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  /** A counter that only grows, kept across restarts (route table versions). */
  nextSequence(name: string): number {
    return this.atomically(() => {
      const n = Number(this.getMeta(`seq:${name}`) ?? '0') + 1;
      this.setMeta(`seq:${name}`, String(n));
      return n;
    });
  }

  // --- artefacts

  putArtefact(a: ArtefactRecord): void {
    this.db.prepare('INSERT OR IGNORE INTO artefacts (digest, service, bytes, path, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(a.digest, a.service, a.bytes, a.path, a.createdAt);
  }

  getArtefact(digest: string): ArtefactRecord | null {
    const r = this.db.prepare('SELECT * FROM artefacts WHERE digest = ?').get(digest) as Row | undefined;
    return r ? toArtefact(r) : null;
  }

  // --- releases

  insertRelease(input: Omit<ReleaseRecord, 'id' | 'number' | 'imageId'> & { imageId?: string | null }): ReleaseRecord {
    const r = { ...input, imageId: input.imageId ?? null };
    return this.atomically(() => {
      const last = this.db.prepare('SELECT MAX(number) AS n FROM releases WHERE env = ?').get(r.env) as Row;
      const number = Number(last.n ?? 0) + 1;
      const info = this.db.prepare(
        `INSERT INTO releases (env, number, service, artefact_digest, config_json, config_hash, dir, image_id, created_at, created_by)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(r.env, number, r.service, r.artefactDigest, JSON.stringify(r.config), r.configHash, r.dir, r.imageId, r.createdAt, r.createdBy);
      return { ...r, id: Number(info.lastInsertRowid), number };
    });
  }

  getRelease(id: number): ReleaseRecord | null {
    const r = this.db.prepare('SELECT * FROM releases WHERE id = ?').get(id) as Row | undefined;
    return r ? toRelease(r) : null;
  }

  getReleaseByNumber(env: string, number: number): ReleaseRecord | null {
    const r = this.db.prepare('SELECT * FROM releases WHERE env = ? AND number = ?').get(env, number) as Row | undefined;
    return r ? toRelease(r) : null;
  }

  /** The environment's releases, newest first: `limit` of them, numbered below `beforeNumber` when given. */
  listReleases(env: string, limit = 50, beforeNumber: number | null = null): ReleaseRecord[] {
    return (this.db.prepare('SELECT * FROM releases WHERE env = ? AND (? IS NULL OR number < ?) ORDER BY number DESC LIMIT ?')
      .all(env, beforeNumber, beforeNumber, limit) as Row[]).map(toRelease);
  }

  countReleases(env: string): number {
    return Number((this.db.prepare('SELECT COUNT(*) AS n FROM releases WHERE env = ?').get(env) as Row).n);
  }

  // --- environments

  listEnvironmentNames(): string[] {
    return (this.db.prepare('SELECT name FROM environments ORDER BY name').all() as Row[]).map((r) => String(r.name));
  }

  ensureEnvironment(name: string): void {
    this.db.prepare('INSERT OR IGNORE INTO environments (name) VALUES (?)').run(name);
  }

  getStableReleaseId(env: string): number | null {
    const r = this.db.prepare('SELECT stable_release_id FROM environments WHERE name = ?').get(env) as Row | undefined;
    return r && r.stable_release_id !== null ? Number(r.stable_release_id) : null;
  }

  setStableRelease(env: string, releaseId: number): void {
    this.ensureEnvironment(env);
    this.db.prepare('UPDATE environments SET stable_release_id = ? WHERE name = ?').run(releaseId, env);
  }

  // --- releases on a cluster (runtime: kubernetes)

  /** Replicas asked for, and serving (counted for traffic), per release id. */
  clusterReplicas(env: string): ClusterReplicas[] {
    return (this.db.prepare('SELECT release_id, replicas, serving FROM cluster_replicas WHERE env = ? ORDER BY release_id').all(env) as Row[])
      .map((r) => ({ releaseId: Number(r.release_id), replicas: Number(r.replicas), serving: Number(r.serving) }));
  }

  setClusterReplicas(env: string, releaseId: number, v: { replicas: number; serving: number }, now: number): void {
    this.db.prepare(
      `INSERT INTO cluster_replicas (env, release_id, replicas, serving, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (env, release_id) DO UPDATE SET replicas = excluded.replicas, serving = excluded.serving, updated_at = excluded.updated_at`,
    ).run(env, releaseId, v.replicas, v.serving, now);
  }

  /** The release's objects were deleted from the cluster (beyond the history limit). */
  dropClusterRelease(env: string, releaseId: number): void {
    this.db.prepare('DELETE FROM cluster_replicas WHERE env = ? AND release_id = ?').run(env, releaseId);
  }

  // --- rollouts

  insertRollout(r: Omit<Rollout, 'id'>): Rollout {
    const info = this.db.prepare(
      `INSERT INTO rollouts (env, kind, from_release_id, to_release_id, phase, plan_json, step_index, step_started_at, traffic_json, preview_release_id,
         reason, created_by, created_at, updated_at, finished_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(r.env, r.kind, r.fromReleaseId, r.toReleaseId, r.phase, JSON.stringify(r.plan), r.stepIndex, r.stepStartedAt,
      r.traffic === null ? null : JSON.stringify(r.traffic), r.preview, r.reason, r.createdBy, r.createdAt, r.updatedAt, r.finishedAt);
    return { ...r, id: Number(info.lastInsertRowid) };
  }

  saveRollout(r: Rollout): void {
    this.db.prepare(
      `UPDATE rollouts SET phase = ?, plan_json = ?, step_index = ?, step_started_at = ?, traffic_json = ?, preview_release_id = ?,
         reason = ?, updated_at = ?, finished_at = ? WHERE id = ?`,
    ).run(r.phase, JSON.stringify(r.plan), r.stepIndex, r.stepStartedAt, r.traffic === null ? null : JSON.stringify(r.traffic), r.preview,
      r.reason, r.updatedAt, r.finishedAt, r.id);
  }

  getRollout(id: number): Rollout | null {
    const r = this.db.prepare('SELECT * FROM rollouts WHERE id = ?').get(id) as Row | undefined;
    return r ? toRollout(r) : null;
  }

  /** The rollout holding an environment, if any: at most one is not finished per environment. */
  activeRollout(env: string): Rollout | null {
    const r = this.db.prepare(
      `SELECT * FROM rollouts WHERE env = ? AND phase NOT IN (${TERMINAL_SQL}) ORDER BY id DESC LIMIT 1`,
    ).get(env) as Row | undefined;
    return r ? toRollout(r) : null;
  }

  activeRollouts(): Rollout[] {
    return (this.db.prepare(`SELECT * FROM rollouts WHERE phase NOT IN (${TERMINAL_SQL}) ORDER BY id`).all() as Row[]).map(toRollout);
  }

  /** The newest rollout that made `releaseId` stable in `env`, however many came after it. */
  newestSucceededRolloutTo(env: string, releaseId: number): Rollout | null {
    const row = this.db.prepare("SELECT * FROM rollouts WHERE env = ? AND to_release_id = ? AND phase = 'succeeded' ORDER BY id DESC LIMIT 1").get(env, releaseId) as Row | undefined;
    return row ? toRollout(row) : null;
  }

  listRollouts(env: string, limit = 20): Rollout[] {
    return (this.db.prepare('SELECT * FROM rollouts WHERE env = ? ORDER BY id DESC LIMIT ?').all(env, limit) as Row[]).map(toRollout);
  }

  addRolloutEvent(e: Omit<RolloutEventRecord, 'id'>): RolloutEventRecord {
    const info = this.db.prepare('INSERT INTO rollout_events (rollout_id, ts, level, message, data_json) VALUES (?, ?, ?, ?, ?)')
      .run(e.rolloutId, e.ts, e.level, e.message, e.data === null ? null : JSON.stringify(e.data));
    return { ...e, id: Number(info.lastInsertRowid) };
  }

  rolloutEvents(rolloutId: number, afterId = 0): RolloutEventRecord[] {
    return (this.db.prepare('SELECT * FROM rollout_events WHERE rollout_id = ? AND id > ? ORDER BY id').all(rolloutId, afterId) as Row[]).map(toEvent);
  }

  // --- instances

  insertInstance(i: InstanceRecord): void {
    this.db.prepare(
      `INSERT INTO instances (id, env, release_id, runtime, runtime_ref, port, pid, proc_start, state, log_path, last_error, created_at, ready_at, stopped_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(i.id, i.env, i.releaseId, i.runtime, i.runtimeRef, i.port, i.pid, i.procStart, i.state, i.logPath, i.lastError, i.createdAt, i.readyAt, i.stoppedAt);
  }

  updateInstance(id: string, patch: Partial<Pick<InstanceRecord, 'pid' | 'procStart' | 'runtimeRef' | 'state' | 'lastError' | 'readyAt' | 'stoppedAt' | 'port'>>): void {
    const cols: Record<string, string> = { pid: 'pid', procStart: 'proc_start', runtimeRef: 'runtime_ref', state: 'state', lastError: 'last_error', readyAt: 'ready_at', stoppedAt: 'stopped_at', port: 'port' };
    const keys = Object.keys(patch) as (keyof typeof patch)[];
    if (keys.length === 0) return;
    const sets = keys.map((k) => `${cols[k]} = ?`).join(', ');
    this.db.prepare(`UPDATE instances SET ${sets} WHERE id = ?`).run(...keys.map((k) => patch[k] ?? null), id);
  }

  getInstance(id: string): InstanceRecord | null {
    const r = this.db.prepare('SELECT * FROM instances WHERE id = ?').get(id) as Row | undefined;
    return r ? toInstance(r) : null;
  }

  /** Instances that are, or may still be, running. */
  liveInstances(env?: string): InstanceRecord[] {
    const sql = "SELECT * FROM instances WHERE state IN ('starting', 'ready', 'draining', 'stopping')" + (env ? ' AND env = ?' : '') + ' ORDER BY created_at, id';
    const rows = (env ? this.db.prepare(sql).all(env) : this.db.prepare(sql).all()) as Row[];
    return rows.map(toInstance);
  }

  recentInstances(env: string, limit = 20): InstanceRecord[] {
    return (this.db.prepare('SELECT * FROM instances WHERE env = ? ORDER BY created_at DESC LIMIT ?').all(env, limit) as Row[]).map(toInstance);
  }

  // --- metrics

  addMetricSamples(samples: MetricSample[]): void {
    const insert = this.db.prepare(
      'INSERT INTO metric_samples (env, release, ts, requests, errors, p50_ms, p90_ms, p99_ms, cpu_percent, rss_mb) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.atomically(() => {
      for (const m of samples) insert.run(m.env, m.release, m.ts, m.requests, m.errors, m.p50Ms, m.p90Ms, m.p99Ms, m.cpuPercent, m.rssMb);
    });
  }

  metricSamples(env: string, sinceTs: number, limit = 5000): MetricSample[] {
    const rows = this.db.prepare('SELECT * FROM metric_samples WHERE env = ? AND ts >= ? ORDER BY ts LIMIT ?').all(env, sinceTs, limit) as Row[];
    const num = (v: unknown) => (v === null ? null : Number(v));
    return rows.map((r) => ({
      env: String(r.env), release: Number(r.release), ts: Number(r.ts), requests: Number(r.requests), errors: Number(r.errors),
      p50Ms: num(r.p50_ms), p90Ms: num(r.p90_ms), p99Ms: num(r.p99_ms), cpuPercent: num(r.cpu_percent), rssMb: num(r.rss_mb),
    }));
  }

  /** Keeps the metrics history bounded. */
  pruneMetricSamples(beforeTs: number): void {
    this.db.prepare('DELETE FROM metric_samples WHERE ts < ?').run(beforeTs);
  }
}
