// Opens state.db with WAL and runs schema migrations keyed by PRAGMA user_version.
// Migrations are append-only: never edit one that has shipped, add the next.

import Database from 'better-sqlite3';
import { SlipwayError } from '../core/errors.ts';

export type Db = Database.Database;

const MIGRATIONS: string[] = [
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
  // 5: container runtimes: which runtime runs each instance and its id there (a
  // container id), and the image id a release's containers run (kept for rollback).
  `
  ALTER TABLE instances ADD COLUMN runtime TEXT NOT NULL DEFAULT 'process';
  ALTER TABLE instances ADD COLUMN runtime_ref TEXT;
  ALTER TABLE releases ADD COLUMN image_id TEXT;
  `,
];

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
  migrate(db);
  return db;
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
    const step = db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    });
    step();
  }
}

export function schemaVersion(): number {
  return MIGRATIONS.length;
}
