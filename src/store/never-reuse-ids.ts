// Migration 14: ids a user or the audit log has seen are never given again.
//
// Releases, rollouts, rollout events and failed notifications were keyed by a plain
// INTEGER PRIMARY KEY, for which SQLite hands out max(id)+1: once `slipway remove`
// deleted the newest rows, the next rollout of another environment got an id that
// audit entries ("rollout 8") already named for the removed one. AUTOINCREMENT keeps
// the highest id ever used in sqlite_sequence and never goes below it.
//
// SQLite cannot add AUTOINCREMENT to a column, so each table is rebuilt by its
// documented procedure (https://sqlite.org/lang_altertable.html#otheralter): create
// new_X, copy the rows with their ids, drop X, rename new_X to X, recreate X's
// indexes. migrate() runs this with foreign keys off and checks them before commit.
// Renaming new_X (not X to old_X) leaves every other table's REFERENCES X as it is.

import type Database from 'better-sqlite3';
import { SlipwayError } from '../core/errors.ts';

// Not open-database.ts's Db: that file runs this one, and imports go one way.
type Db = Database.Database;

interface Rebuild {
  table: string;
  /** The table as migrations 1–13 left it (same columns, same order), with AUTOINCREMENT. */
  create: string;
  indexes: string;
  /** The highest id of this table named anywhere that lasts, rows already deleted included. */
  highWater: (db: Db) => number;
}

const REBUILDS: Rebuild[] = [
  {
    table: 'releases',
    create: `CREATE TABLE new_releases (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      env TEXT NOT NULL,
      number INTEGER NOT NULL,
      service TEXT NOT NULL,
      artefact_digest TEXT NOT NULL REFERENCES artefacts(digest),
      config_json TEXT NOT NULL,
      config_hash TEXT NOT NULL,
      dir TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      created_by TEXT NOT NULL,
      image_id TEXT,
      UNIQUE (env, number)
    )`,
    indexes: '',
    // Audit entries and events name a release by its number ("release 3"); its id is
    // named only by rows of its own environment, which `remove` deletes with it. So the
    // id of a release removed before this migration is known nowhere: ids count on
    // from the highest kept.
    highWater: (db) => maxOf(db, ['SELECT MAX(id) FROM releases']),
  },
  {
    table: 'rollouts',
    create: `CREATE TABLE new_rollouts (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
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
      finished_at INTEGER,
      step_started_at INTEGER,
      traffic_json TEXT,
      preview_release_id INTEGER
    )`,
    indexes: 'CREATE INDEX rollouts_env ON rollouts(env, id);',
    highWater: (db) => Math.max(
      maxOf(db, ['SELECT MAX(id) FROM rollouts', 'SELECT MAX(rollout_id) FROM rollout_events', 'SELECT MAX(rollout_id) FROM events', 'SELECT MAX(rollout_id) FROM analysis_windows']),
      highestRolloutInAudit(db),
    ),
  },
  {
    table: 'rollout_events',
    create: `CREATE TABLE new_rollout_events (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      rollout_id INTEGER NOT NULL REFERENCES rollouts(id),
      ts INTEGER NOT NULL,
      level TEXT NOT NULL,
      message TEXT NOT NULL,
      data_json TEXT
    )`,
    indexes: 'CREATE INDEX rollout_events_rollout ON rollout_events(rollout_id, id);',
    // Named only as the `after` cursor of a client following one rollout's events.
    highWater: (db) => maxOf(db, ['SELECT MAX(id) FROM rollout_events']),
  },
  {
    table: 'notification_failures',
    create: `CREATE TABLE new_notification_failures (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      ts INTEGER NOT NULL,
      env TEXT NOT NULL,
      event_id INTEGER NOT NULL,
      event_type TEXT NOT NULL,
      target TEXT NOT NULL,
      attempts INTEGER NOT NULL,
      error TEXT NOT NULL
    )`,
    indexes: 'CREATE INDEX notification_failures_env ON notification_failures(env, id);',
    highWater: (db) => maxOf(db, ['SELECT MAX(id) FROM notification_failures']),
  },
];

/** The largest of single-value queries (NULL, from an empty table, counts as 0). */
function maxOf(db: Db, queries: string[]): number {
  return Math.max(0, ...queries.map((q) => Number(db.prepare(q).pluck().get() ?? 0)));
}

/**
 * The audit log outlives every row it names: `rollout 8` as a target (pause, resume,
 * promote, abort, automatic abort), `"rollout": 8` in the details (deploy, rollback,
 * config changes). A rollout removed before this migration survives only there.
 */
function highestRolloutInAudit(db: Db): number {
  const rows = db.prepare(`SELECT target, details_json FROM audit_log WHERE target LIKE 'rollout %' OR details_json LIKE '%"rollout":%'`).all() as { target: string | null; details_json: string }[];
  const named: unknown[] = [];
  for (const r of rows) {
    const target = /^rollout (\d+)$/.exec(r.target ?? '');
    if (target) named.push(Number(target[1]));
    try {
      named.push((JSON.parse(r.details_json) as { rollout?: unknown } | null)?.rollout);
    } catch {
      // Unreadable details name nothing; `slipway audit verify` reports the entry.
    }
  }
  return Math.max(0, ...named.filter((id): id is number => Number.isSafeInteger(id)));
}

function columnsOf(db: Db, table: string): string[] {
  return (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name);
}

function rebuild(db: Db, r: Rebuild): void {
  const highWater = r.highWater(db);
  db.exec(r.create);
  const columns = columnsOf(db, r.table);
  const fresh = columnsOf(db, `new_${r.table}`);
  if (columns.join(',') !== fresh.join(',')) {
    // A column this migration does not know would be lost with the old table.
    throw new SlipwayError('E_STATE_CORRUPT', `state.db table ${r.table} has columns (${columns.join(', ')}) where (${fresh.join(', ')}) were expected; it was changed outside slipway`, { table: r.table });
  }
  const list = columns.join(', ');
  db.exec(`INSERT INTO new_${r.table} (${list}) SELECT ${list} FROM ${r.table}; DROP TABLE ${r.table}; ALTER TABLE new_${r.table} RENAME TO ${r.table}; ${r.indexes}`);
  // sqlite_sequence has no key on name: update the row the copy made, or add one.
  if (db.prepare('UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = ?').run(highWater, r.table).changes === 0) {
    db.prepare('INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)').run(r.table, highWater);
  }
}

/** Rebuilds each table with AUTOINCREMENT, its counter above every id it ever gave. */
export function neverReuseIds(db: Db): void {
  for (const r of REBUILDS) rebuild(db, r);
}
