// Opens state.db with WAL and runs schema migrations keyed by PRAGMA user_version.
// Migrations are append-only: never edit one that has shipped, add the next.

import Database from 'better-sqlite3';
import { SlipwayError } from '../core/errors.ts';
import { neverReuseIds } from './never-reuse-ids.ts';

export type Db = Database.Database;

/**
 * A migration that drops and recreates tables others refer to. It runs with foreign
 * keys off (SQLite cannot switch them inside a transaction, and with them on, dropping
 * the old copy would delete or refuse for every row that refers to it), and they are
 * checked before it commits.
 */
interface TableRebuild {
  rebuild: (db: Db) => void;
}

const MIGRATIONS: (string | ((db: Db) => void) | TableRebuild)[] = [
  // 1: the foundation: artefacts, releases, rollouts, instances, rollout events.
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE artefacts (
    digest TEXT PRIMARY KEY,
    service TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    path TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE releases (
    id INTEGER PRIMARY KEY,
    env TEXT NOT NULL,
    number INTEGER NOT NULL,
    service TEXT NOT NULL,
    artefact_digest TEXT NOT NULL REFERENCES artefacts(digest),
    config_json TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    dir TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    UNIQUE (env, number)
  );
  CREATE TABLE environments (
    name TEXT PRIMARY KEY,
    stable_release_id INTEGER REFERENCES releases(id),
    spec_json TEXT
  );
  CREATE TABLE rollouts (
    id INTEGER PRIMARY KEY,
    env TEXT NOT NULL,
    kind TEXT NOT NULL,
    from_release_id INTEGER REFERENCES releases(id),
    to_release_id INTEGER NOT NULL REFERENCES releases(id),
    phase TEXT NOT NULL,
    plan_json TEXT NOT NULL,
    step_index INTEGER NOT NULL,
    reason TEXT,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    finished_at INTEGER
  );
  CREATE INDEX rollouts_env ON rollouts(env, id);
  CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    env TEXT NOT NULL,
    release_id INTEGER NOT NULL REFERENCES releases(id),
    port INTEGER NOT NULL,
    pid INTEGER,
    proc_start TEXT,
    state TEXT NOT NULL,
    log_path TEXT NOT NULL,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    ready_at INTEGER,
    stopped_at INTEGER
  );
  CREATE INDEX instances_env ON instances(env, state);
  CREATE TABLE rollout_events (
    id INTEGER PRIMARY KEY,
    rollout_id INTEGER NOT NULL REFERENCES rollouts(id),
    ts INTEGER NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    data_json TEXT
  );
  CREATE INDEX rollout_events_rollout ON rollout_events(rollout_id, id);
  `,
  // 2: rollouts beyond rolling: explicit traffic split, preview release, step timing.
  `
  ALTER TABLE rollouts ADD COLUMN step_started_at INTEGER;
  ALTER TABLE rollouts ADD COLUMN traffic_json TEXT;
  ALTER TABLE rollouts ADD COLUMN preview_release_id INTEGER;
  `,
  // 3: per-release metrics, downsampled, for a rollout's history.
  `
  CREATE TABLE metric_samples (
    env TEXT NOT NULL,
    release INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    p50_ms REAL,
    p90_ms REAL,
    p99_ms REAL,
    cpu_percent REAL,
    rss_mb REAL
  );
  CREATE INDEX metric_samples_env_ts ON metric_samples(env, ts);
  `,
  // 4: config versions per environment and the encrypted secrets they refer to.
  // A secret's value is only ever stored as AES-256-GCM ciphertext; its
  // fingerprint is a keyed hash, so equal values can be told equal without it.
  `
  CREATE TABLE config_versions (
    env TEXT NOT NULL,
    number INTEGER NOT NULL,
    values_json TEXT NOT NULL,
    secrets_json TEXT NOT NULL,
    change TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (env, number)
  );
  CREATE TABLE secret_versions (
    env TEXT NOT NULL,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    ciphertext BLOB NOT NULL,
    fingerprint TEXT NOT NULL,
    key_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (env, name, version)
  );
  `,
  // 5: API tokens (only a hash of each secret is kept) and the audit log, each
  // entry chained to the one before by SHA-256.
  `
  CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    role TEXT NOT NULL,
    envs_json TEXT,
    secret_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER,
    revoked_by TEXT,
    last_used_at INTEGER
  );
  CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    env TEXT,
    target TEXT,
    request_id TEXT,
    outcome TEXT NOT NULL,
    details_json TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
  );
  CREATE INDEX audit_log_env ON audit_log(env, seq);
  `,
  // 6: observability. A general event log behind the SSE stream /api/events: ids
  // are AUTOINCREMENT so that an id is never reused after old events are pruned,
  // which is what lets a client resume with Last-Event-ID. And the webhook
  // deliveries that failed after every retry, for the user to see.
  `
  CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts INTEGER NOT NULL,
    type TEXT NOT NULL,
    env TEXT,
    rollout_id INTEGER,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    data_json TEXT
  );
  CREATE INDEX events_env ON events(env, id);
  CREATE TABLE notification_failures (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    env TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    target TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    error TEXT NOT NULL
  );
  CREATE INDEX notification_failures_env ON notification_failures(env, id);
  `,
  // 7: the release pipeline: runs and their stages, approvals, and the signed
  // manifest of every artefact (built by a run or received by upload).
  `
  CREATE TABLE pipeline_runs (
    id INTEGER PRIMARY KEY,
    service TEXT NOT NULL,
    repo TEXT NOT NULL,
    ref TEXT NOT NULL,
    commit_sha TEXT NOT NULL,
    version TEXT NOT NULL,
    status TEXT NOT NULL,
    stage TEXT NOT NULL,
    reason TEXT,
    started_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    finished_at INTEGER,
    config_text TEXT NOT NULL,
    artefact_digest TEXT,
    attempt INTEGER NOT NULL
  );
  CREATE TABLE pipeline_stages (
    run_id INTEGER NOT NULL REFERENCES pipeline_runs(id),
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    actor TEXT,
    output_tail TEXT NOT NULL,
    reason TEXT,
    data_json TEXT NOT NULL,
    PRIMARY KEY (run_id, name)
  );
  CREATE TABLE pipeline_approvals (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES pipeline_runs(id),
    actor TEXT NOT NULL,
    decision TEXT NOT NULL,
    reason TEXT,
    roles_json TEXT,
    at INTEGER NOT NULL,
    attempt INTEGER NOT NULL
  );
  CREATE INDEX pipeline_approvals_run ON pipeline_approvals(run_id, id);
  CREATE TABLE artefact_manifests (
    digest TEXT PRIMARY KEY,
    manifest_json TEXT NOT NULL,
    signature TEXT NOT NULL,
    key_id TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  `,
  // 8: container runtimes: which runtime runs each instance and its id there (a
  // container id), and the image id a release's containers run (kept for rollback).
  `
  ALTER TABLE instances ADD COLUMN runtime TEXT NOT NULL DEFAULT 'process';
  ALTER TABLE instances ADD COLUMN runtime_ref TEXT;
  ALTER TABLE releases ADD COLUMN image_id TEXT;
  `,
  // 9: environments on a Kubernetes cluster: per release, the replicas slipway asked
  // for and how many of them get traffic (those counted ready), so that a restarted
  // server re-applies exactly what the cluster should have.
  `
  CREATE TABLE cluster_replicas (
    env TEXT NOT NULL,
    release_id INTEGER NOT NULL REFERENCES releases(id),
    replicas INTEGER NOT NULL,
    serving INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (env, release_id)
  );
  `,
  // 10: the admin's host policy (what each environment's slipway.yaml may ask of the
  // host), every version kept: the newest one holds; the text is the file as written.
  `
  CREATE TABLE policy_versions (
    number INTEGER PRIMARY KEY,
    policy_json TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL
  );
  `,
  // 11: where each analysis and watch window began (the router's counters then, the
  // baseline it judges against): a restarted server resumes them with the evidence
  // gathered so far, instead of starting them again or, for a watch, forgetting it.
  `
  CREATE TABLE analysis_windows (
    key TEXT PRIMARY KEY,
    env TEXT NOT NULL,
    rollout_id INTEGER NOT NULL,
    data_json TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  );
  `,
  // 12: environments belong to a service: every row's environment becomes the key
  // "<service>/<environment>" (see core/env-key.ts). The audit log keeps what it
  // said (its entries are hash-chained); its reader matches both forms.
  qualifyEnvironments,
  // 13: `slipway down`: an environment taken down keeps its history; this says who
  // took it down, when, and which release it ran then (store/teardown-store.ts).
  `
  ALTER TABLE environments ADD COLUMN down_json TEXT;
  `,
  // 14: releases, rollouts, rollout events and failed notifications get AUTOINCREMENT
  // ids, counted on from the highest id ever named: after `slipway remove`, the next
  // rollout took the id of a removed one that the audit log still names.
  { rebuild: neverReuseIds },
  // 15: release retention: a release beyond an environment's kept number is marked
  // here before its tree, artefact or image is removed (store/retention-store.ts), so
  // a crash mid-removal leaves a release that is never run again, not a half tree
  // that looks whole. `cleaned_at` is set once everything of it is gone.
  `
  CREATE TABLE retired_releases (
    release_id INTEGER PRIMARY KEY REFERENCES releases(id) ON DELETE CASCADE,
    retired_at INTEGER NOT NULL,
    cleaned_at INTEGER
  );
  `,
  // 16: the pipeline's lookups of one run (by artefact, by a pushed commit, the runs
  // waiting for approval) read one index entry instead of every run.
  `
  CREATE INDEX pipeline_runs_artefact ON pipeline_runs(artefact_digest, id);
  CREATE INDEX pipeline_runs_commit ON pipeline_runs(commit_sha, id);
  CREATE INDEX pipeline_runs_status ON pipeline_runs(status, stage, id);
  `,
];

/** Tables whose `env` column names an environment (12 rewrites them to keys). */
const ENV_COLUMNS: [table: string, column: string][] = [
  ['environments', 'name'], ['releases', 'env'], ['rollouts', 'env'], ['instances', 'env'], ['metric_samples', 'env'],
  ['config_versions', 'env'], ['secret_versions', 'env'], ['events', 'env'], ['notification_failures', 'env'],
  ['cluster_replicas', 'env'], ['analysis_windows', 'env'],
];

/**
 * The service of each environment: the one its newest release ran; for one that
 * only ever had config set, the server's one service when it has exactly one. A
 * name no service can be given to (config only, on a server with several
 * services: none before 12) keeps its bare name, which nothing deploys to again.
 */
function qualifyEnvironments(db: Db): void {
  const services = (db.prepare('SELECT DISTINCT service FROM releases UNION SELECT DISTINCT service FROM artefacts').all() as { service: string }[]).map((r) => r.service);
  const only = services.length === 1 ? services[0]! : null;
  const names = new Set<string>();
  for (const [table, column] of ENV_COLUMNS) {
    for (const r of db.prepare(`SELECT DISTINCT ${column} AS name FROM ${table} WHERE ${column} IS NOT NULL`).all() as { name: string }[]) names.add(r.name);
  }
  const keyOf = new Map<string, string>();
  for (const name of names) {
    const newest = db.prepare('SELECT service FROM releases WHERE env = ? ORDER BY number DESC LIMIT 1').get(name) as { service: string } | undefined;
    const service = newest?.service ?? only;
    if (service) keyOf.set(name, `${service}/${name}`);
  }
  for (const [name, key] of keyOf) {
    for (const [table, column] of ENV_COLUMNS) db.prepare(`UPDATE ${table} SET ${column} = ? WHERE ${column} = ?`).run(key, name);
    db.prepare('UPDATE analysis_windows SET key = ? WHERE key = ?').run(`watch:${key}`, `watch:${name}`);
  }
  for (const t of db.prepare('SELECT id, envs_json FROM api_tokens WHERE envs_json IS NOT NULL').all() as { id: string; envs_json: string }[]) {
    const envs = (JSON.parse(t.envs_json) as string[]).map((e) => keyOf.get(e) ?? e);
    db.prepare('UPDATE api_tokens SET envs_json = ? WHERE id = ?').run(JSON.stringify(envs), t.id);
  }
}

export function openDatabase(file: string): Db {
  let db: Db;
  try {
    db = new Database(file);
  } catch (e) {
    throw new SlipwayError('E_STATE_CORRUPT', `cannot open the state database ${file}: ${(e as Error).message}`, { file }, { cause: e });
  }
  db.pragma('journal_mode = WAL');
  // FULL: a decision that returned is on disk even if the machine loses power.
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  try {
    migrate(db);
  } catch (e) {
    db.close();
    throw e;
  }
  cacheStatements(db);
  return db;
}

/**
 * Every query text is compiled once per connection: the store asks for the same few
 * dozen statements thousands of times a minute (each reconciler pass, each sample),
 * and compiling one costs more than running it. No caller changes a statement's
 * mode (pluck, raw, expand) or holds an iterator, so a compiled one can be shared.
 */
function cacheStatements(db: Db): void {
  const compile = db.prepare.bind(db);
  const cache = new Map<string, ReturnType<typeof compile>>();
  db.prepare = ((sql: string) => {
    let statement = cache.get(sql);
    if (statement === undefined) {
      statement = compile(sql);
      cache.set(sql, statement);
    }
    return statement;
  }) as typeof db.prepare;
}

function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new SlipwayError(
      'E_STATE_CORRUPT',
      `state.db has schema version ${current}, newer than this slipway understands (${MIGRATIONS.length}); upgrade slipway`,
    );
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    const m = MIGRATIONS[v]!;
    const step = db.transaction(() => {
      if (typeof m === 'string') db.exec(m);
      else if (typeof m === 'function') m(db);
      else {
        const before = brokenReferences(db);
        m.rebuild(db);
        assertNoneBroken(db, before, v + 1);
      }
      db.pragma(`user_version = ${v + 1}`);
    });
    const rebuilds = typeof m === 'object';
    if (rebuilds) db.pragma('foreign_keys = OFF');
    try {
      step();
    } finally {
      if (rebuilds) db.pragma('foreign_keys = ON');
    }
  }
}

type BrokenReference = { table: string; rowid: number; parent: string; fkid: number };

function brokenReferences(db: Db): BrokenReference[] {
  return db.pragma('foreign_key_check') as BrokenReference[];
}

/**
 * A rebuild must not leave a row referring to one that is gone. One that did before
 * it (foreign keys are on in every connection slipway opens, so none should) is not
 * this migration's to judge: refusing to start over it would help nobody.
 */
function assertNoneBroken(db: Db, before: BrokenReference[], version: number): void {
  const key = (b: BrokenReference) => `${b.table}:${b.rowid}:${b.fkid}`;
  const known = new Set(before.map(key));
  const broken = brokenReferences(db).filter((b) => !known.has(key(b)));
  if (broken.length === 0) return;
  const first = broken[0]!;
  throw new SlipwayError(
    'E_STATE_CORRUPT',
    `state.db migration ${version} would leave ${broken.length} row(s) referring to rows that do not exist (first: ${first.table} row ${first.rowid} → ${first.parent}); it was rolled back`,
    { version, broken: broken.slice(0, 10) },
  );
}

export function schemaVersion(): number {
  return MIGRATIONS.length;
}
