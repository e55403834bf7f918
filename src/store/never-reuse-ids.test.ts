// Ids of releases, rollouts, rollout events and failed notifications are never given
// twice (migration 14), on a database made today and on one made by slipway before
// it, whose deleted rows are known only by what still names them.

import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReleaseConfig } from '../core/records.ts';
import type { Rollout } from '../core/rollout.ts';
import { schemaVersion } from './open-database.ts';
import { StateStore } from './state-store.ts';
import { TeardownStore } from './teardown-store.ts';

/** state.db as slipway left it at schema version 13 (sqlite_master of a fresh one, one statement a line). */
const SCHEMA_V13 = `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE artefacts (digest TEXT PRIMARY KEY, service TEXT NOT NULL, bytes INTEGER NOT NULL, path TEXT NOT NULL, created_at INTEGER NOT NULL);
  CREATE TABLE releases (id INTEGER PRIMARY KEY, env TEXT NOT NULL, number INTEGER NOT NULL, service TEXT NOT NULL, artefact_digest TEXT NOT NULL REFERENCES artefacts(digest), config_json TEXT NOT NULL, config_hash TEXT NOT NULL, dir TEXT NOT NULL, created_at INTEGER NOT NULL, created_by TEXT NOT NULL, image_id TEXT, UNIQUE (env, number));
  CREATE TABLE environments (name TEXT PRIMARY KEY, stable_release_id INTEGER REFERENCES releases(id), spec_json TEXT, down_json TEXT);
  CREATE TABLE rollouts (id INTEGER PRIMARY KEY, env TEXT NOT NULL, kind TEXT NOT NULL, from_release_id INTEGER REFERENCES releases(id), to_release_id INTEGER NOT NULL REFERENCES releases(id), phase TEXT NOT NULL, plan_json TEXT NOT NULL, step_index INTEGER NOT NULL, reason TEXT, created_by TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, finished_at INTEGER, step_started_at INTEGER, traffic_json TEXT, preview_release_id INTEGER);
  CREATE INDEX rollouts_env ON rollouts(env, id);
  CREATE TABLE instances (id TEXT PRIMARY KEY, env TEXT NOT NULL, release_id INTEGER NOT NULL REFERENCES releases(id), port INTEGER NOT NULL, pid INTEGER, proc_start TEXT, state TEXT NOT NULL, log_path TEXT NOT NULL, last_error TEXT, created_at INTEGER NOT NULL, ready_at INTEGER, stopped_at INTEGER, runtime TEXT NOT NULL DEFAULT 'process', runtime_ref TEXT);
  CREATE INDEX instances_env ON instances(env, state);
  CREATE TABLE rollout_events (id INTEGER PRIMARY KEY, rollout_id INTEGER NOT NULL REFERENCES rollouts(id), ts INTEGER NOT NULL, level TEXT NOT NULL, message TEXT NOT NULL, data_json TEXT);
  CREATE INDEX rollout_events_rollout ON rollout_events(rollout_id, id);
  CREATE TABLE metric_samples (env TEXT NOT NULL, release INTEGER NOT NULL, ts INTEGER NOT NULL, requests INTEGER NOT NULL, errors INTEGER NOT NULL, p50_ms REAL, p90_ms REAL, p99_ms REAL, cpu_percent REAL, rss_mb REAL);
  CREATE INDEX metric_samples_env_ts ON metric_samples(env, ts);
  CREATE TABLE config_versions (env TEXT NOT NULL, number INTEGER NOT NULL, values_json TEXT NOT NULL, secrets_json TEXT NOT NULL, change TEXT NOT NULL, created_at INTEGER NOT NULL, created_by TEXT NOT NULL, PRIMARY KEY (env, number));
  CREATE TABLE secret_versions (env TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL, ciphertext BLOB NOT NULL, fingerprint TEXT NOT NULL, key_id TEXT NOT NULL, created_at INTEGER NOT NULL, created_by TEXT NOT NULL, PRIMARY KEY (env, name, version));
  CREATE TABLE api_tokens (id TEXT PRIMARY KEY, user TEXT NOT NULL, role TEXT NOT NULL, envs_json TEXT, secret_hash TEXT NOT NULL, created_at INTEGER NOT NULL, created_by TEXT NOT NULL, expires_at INTEGER, revoked_at INTEGER, revoked_by TEXT, last_used_at INTEGER);
  CREATE TABLE audit_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, env TEXT, target TEXT, request_id TEXT, outcome TEXT NOT NULL, details_json TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
  CREATE INDEX audit_log_env ON audit_log(env, seq);
  CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, type TEXT NOT NULL, env TEXT, rollout_id INTEGER, level TEXT NOT NULL, message TEXT NOT NULL, data_json TEXT);
  CREATE INDEX events_env ON events(env, id);
  CREATE TABLE notification_failures (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, env TEXT NOT NULL, event_id INTEGER NOT NULL, event_type TEXT NOT NULL, target TEXT NOT NULL, attempts INTEGER NOT NULL, error TEXT NOT NULL);
  CREATE INDEX notification_failures_env ON notification_failures(env, id);
  CREATE TABLE pipeline_runs (id INTEGER PRIMARY KEY, service TEXT NOT NULL, repo TEXT NOT NULL, ref TEXT NOT NULL, commit_sha TEXT NOT NULL, version TEXT NOT NULL, status TEXT NOT NULL, stage TEXT NOT NULL, reason TEXT, started_by TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, finished_at INTEGER, config_text TEXT NOT NULL, artefact_digest TEXT, attempt INTEGER NOT NULL);
  CREATE TABLE pipeline_stages (run_id INTEGER NOT NULL REFERENCES pipeline_runs(id), name TEXT NOT NULL, status TEXT NOT NULL, started_at INTEGER, finished_at INTEGER, actor TEXT, output_tail TEXT NOT NULL, reason TEXT, data_json TEXT NOT NULL, PRIMARY KEY (run_id, name));
  CREATE TABLE pipeline_approvals (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES pipeline_runs(id), actor TEXT NOT NULL, decision TEXT NOT NULL, reason TEXT, roles_json TEXT, at INTEGER NOT NULL, attempt INTEGER NOT NULL);
  CREATE INDEX pipeline_approvals_run ON pipeline_approvals(run_id, id);
  CREATE TABLE artefact_manifests (digest TEXT PRIMARY KEY, manifest_json TEXT NOT NULL, signature TEXT NOT NULL, key_id TEXT NOT NULL, created_at INTEGER NOT NULL);
  CREATE TABLE cluster_replicas (env TEXT NOT NULL, release_id INTEGER NOT NULL REFERENCES releases(id), replicas INTEGER NOT NULL, serving INTEGER NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (env, release_id));
  CREATE TABLE policy_versions (number INTEGER PRIMARY KEY, policy_json TEXT NOT NULL, text TEXT NOT NULL, created_at INTEGER NOT NULL, created_by TEXT NOT NULL);
  CREATE TABLE analysis_windows (key TEXT PRIMARY KEY, env TEXT NOT NULL, rollout_id INTEGER NOT NULL, data_json TEXT NOT NULL, updated_at INTEGER NOT NULL);
`;

const DIGEST = `sha256:${'a'.repeat(64)}`;
// The store keeps a release's config as JSON and reads back only what it fills defaults for.
const CONFIG = { environment: { secrets: {} } } as unknown as ReleaseConfig;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function dbFile(): string {
  const d = mkdtempSync(join(tmpdir(), 'slipway-ids-'));
  dirs.push(d);
  return join(d, 'state.db');
}

function deployOnce(store: StateStore, env: string): { releaseId: number; rolloutId: number; eventId: number } {
  const release = store.insertRelease({ env, service: env.split('/')[0]!, artefactDigest: DIGEST, config: CONFIG, configHash: 'h', dir: '/nowhere', createdAt: 1, createdBy: 'alice' });
  const rollout: Omit<Rollout, 'id'> = {
    env, kind: 'deploy', fromReleaseId: null, toReleaseId: release.id, phase: 'succeeded', plan: { steps: [] }, stepIndex: 0, stepStartedAt: null,
    traffic: null, preview: null, reason: null, createdBy: 'alice', createdAt: 1, updatedAt: 1, finishedAt: 1,
  };
  const r = store.insertRollout(rollout);
  const event = store.addRolloutEvent({ rolloutId: r.id, ts: 1, level: 'info', message: 'done', data: null });
  store.setStableRelease(env, release.id);
  return { releaseId: release.id, rolloutId: r.id, eventId: event.id };
}

/** A database as slipway left it at schema version 13, with fn's rows written by a connection of its own. */
function oldDatabase(fn: (old: Database.Database) => void): string {
  const file = dbFile();
  const old = new Database(file);
  old.exec(SCHEMA_V13);
  old.pragma('user_version = 13');
  old.prepare("INSERT INTO artefacts VALUES (?, 'shop', 1, '/nowhere.tar.gz', 1)").run(DIGEST);
  fn(old);
  old.close();
  return file;
}

function failNotification(store: StateStore, env: string): number {
  store.observe.addNotificationFailure({ ts: 1, env, eventId: 1, eventType: 'rollout.failed', target: 'https://hooks.example', attempts: 3, error: 'timeout' });
  return store.observe.notificationFailures(env, 1)[0]!.id;
}

describe('ids once given', () => {
  it('are not given again after remove deletes the newest rows, nor after a restart', () => {
    const file = dbFile();
    let store = new StateStore(file);
    store.putArtefact({ digest: DIGEST, service: 'hello', bytes: 1, path: '/nowhere.tar.gz', createdAt: 1 });
    deployOnce(store, 'hello/staging');
    failNotification(store, 'hello/staging');
    const shop = [1, 2, 3].map(() => deployOnce(store, 'shop/production'));
    const shopFailure = failNotification(store, 'shop/production');

    new TeardownStore(store.db).forget('shop/production');
    expect(store.getRollout(shop[2]!.rolloutId)).toBeNull();

    const next = deployOnce(store, 'hello/staging');
    expect(next.rolloutId).toBeGreaterThan(shop[2]!.rolloutId);
    expect(next.releaseId).toBeGreaterThan(shop[2]!.releaseId);
    expect(next.eventId).toBeGreaterThan(shop[2]!.eventId);
    expect(failNotification(store, 'hello/staging')).toBeGreaterThan(shopFailure);

    // The counters are in the file: a restarted server counts on from them.
    new TeardownStore(store.db).forget('hello/staging');
    store.close();
    store = new StateStore(file);
    const afterRestart = deployOnce(store, 'hello/staging');
    expect(afterRestart.rolloutId).toBeGreaterThan(next.rolloutId);
    expect(afterRestart.releaseId).toBeGreaterThan(next.releaseId);
    store.close();
  });

  it('are not given again on a database made before migration 14, rows removed before it included', () => {
    const file = oldDatabase((old) => {
      const release = old.prepare("INSERT INTO releases (id, env, number, service, artefact_digest, config_json, config_hash, dir, created_at, created_by) VALUES (?, ?, ?, ?, ?, '{\"environment\":{}}', 'h', '/nowhere', 1, 'alice')");
      const rollout = old.prepare("INSERT INTO rollouts (id, env, kind, to_release_id, phase, plan_json, step_index, created_by, created_at, updated_at) VALUES (?, ?, 'deploy', ?, 'succeeded', '{\"steps\":[]}', 0, 'alice', 1, 1)");
      const audit = old.prepare("INSERT INTO audit_log (at, actor, action, env, target, outcome, details_json, prev_hash, hash) VALUES (1, 'alice', ?, ?, ?, 'ok', ?, 'p', 'h')");
      // hello/staging: release 1 with rollout 1, kept.
      release.run(1, 'hello/staging', 1, 'hello', DIGEST);
      rollout.run(1, 'hello/staging', 1);
      old.prepare("INSERT INTO environments (name, stable_release_id) VALUES ('hello/staging', 1)").run();
      old.prepare("INSERT INTO rollout_events (id, rollout_id, ts, level, message) VALUES (1, 1, 1, 'info', 'done')").run();
      old.prepare("INSERT INTO notification_failures VALUES (1, 1, 'hello/staging', 1, 'rollout.failed', 'https://hooks.example', 3, 'timeout')").run();
      // shop/production: releases 2–4, rollouts 2–9, events up to 20, a failed notification 2, then removed
      // by the old slipway: only the audit log still names rollouts 8 and 9.
      for (const id of [2, 3, 4]) release.run(id, 'shop/production', id - 1, 'shop', DIGEST);
      for (let id = 2; id <= 9; id++) rollout.run(id, 'shop/production', 4);
      for (let id = 2; id <= 20; id++) old.prepare("INSERT INTO rollout_events (id, rollout_id, ts, level, message) VALUES (?, 9, 1, 'info', 'step')").run(id);
      old.prepare("INSERT INTO notification_failures VALUES (2, 1, 'shop/production', 1, 'rollout.failed', 'https://hooks.example', 3, 'timeout')").run();
      audit.run('deploy', 'shop/production', 'release 3', JSON.stringify({ status: 202, rollout: 9 }));
      audit.run('rollout.abort', 'shop/production', 'rollout 8', JSON.stringify({ status: 202 }));
      audit.run('deploy', 'hello/staging', 'release 1', '{not json');
      old.exec("DELETE FROM rollout_events WHERE rollout_id = 9; DELETE FROM rollouts WHERE env = 'shop/production'; DELETE FROM releases WHERE env = 'shop/production'; DELETE FROM notification_failures WHERE env = 'shop/production'");
      expect(old.prepare('SELECT MAX(id) FROM rollouts').pluck().get()).toBe(1);
    });

    const store = new StateStore(file);
    expect(store.db.pragma('user_version', { simple: true })).toBe(schemaVersion());
    expect(store.db.pragma('foreign_keys', { simple: true })).toBe(1);
    // Every table keeps its rows, columns and indexes; only the ids' counters are new.
    expect(store.getRollout(1)).toMatchObject({ env: 'hello/staging', toReleaseId: 1, phase: 'succeeded', plan: { steps: [] } });
    expect(store.getRelease(1)).toMatchObject({ env: 'hello/staging', number: 1, service: 'hello', artefactDigest: DIGEST });
    expect(store.getStableReleaseId('hello/staging')).toBe(1);
    expect(store.rolloutEvents(1).map((e) => e.id)).toEqual([1]);
    expect(store.observe.notificationFailures('hello/staging').map((f) => f.id)).toEqual([1]);
    expect(store.audit.list().map((e) => e.target)).toEqual(['release 3', 'rollout 8', 'release 1']);
    const indexes = store.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name").pluck().all();
    expect(indexes).toEqual(['audit_log_env', 'events_env', 'instances_env', 'metric_samples_env_ts', 'notification_failures_env', 'pipeline_approvals_run', 'pipeline_runs_artefact', 'pipeline_runs_commit', 'pipeline_runs_status', 'rollout_events_rollout', 'rollouts_env']);
    expect(() => store.insertRelease({ env: 'hello/staging', service: 'hello', artefactDigest: `sha256:${'b'.repeat(64)}`, config: CONFIG, configHash: 'h', dir: '/x', createdAt: 1, createdBy: 'a' }))
      .toThrow(/FOREIGN KEY/);

    const next = deployOnce(store, 'hello/staging');
    // Rollouts 8 and 9 live on in the audit log: the next one is 10, never 2.
    expect(next.rolloutId).toBe(10);
    // Releases 2–4, events 2–20 and failure 2 were named nowhere that lasts: those are
    // past knowing, and ids count on from the highest kept.
    expect(next.releaseId).toBe(2);
    expect(next.eventId).toBe(2);
    expect(failNotification(store, 'hello/staging')).toBe(2);

    // From here on, nothing removed is given again.
    deployOnce(store, 'shop/production');
    const beforeRemove = deployOnce(store, 'shop/production');
    const shopFailure = failNotification(store, 'shop/production');
    new TeardownStore(store.db).forget('shop/production');
    const after = deployOnce(store, 'hello/staging');
    expect(after).toEqual({ rolloutId: beforeRemove.rolloutId + 1, releaseId: beforeRemove.releaseId + 1, eventId: beforeRemove.eventId + 1 });
    expect(failNotification(store, 'hello/staging')).toBe(shopFailure + 1);
    store.close();
  });

  it.each([
    ['a target', 'rollout.abort', 'rollout 12', { status: 202 }],
    ['the details', 'config.set', 'LOG_LEVEL', { status: 202, configVersion: 3, rollout: 12 }],
  ])('a rollout removed before migration 14 and named in %s of an audit entry is not given again', (_, action, target, details) => {
    const file = oldDatabase((old) => {
      old.prepare("INSERT INTO audit_log (at, actor, action, env, target, outcome, details_json, prev_hash, hash) VALUES (1, 'alice', ?, 'shop/production', ?, 'ok', ?, 'p', 'h')")
        .run(action, target, JSON.stringify(details));
    });
    const store = new StateStore(file);
    expect(deployOnce(store, 'hello/staging').rolloutId).toBe(13);
    store.close();
  });

  it('a table changed outside slipway stops the migration, which leaves every table as it was', () => {
    const file = oldDatabase((old) => {
      old.exec('ALTER TABLE rollouts ADD COLUMN note TEXT');
      old.prepare("INSERT INTO releases (id, env, number, service, artefact_digest, config_json, config_hash, dir, created_at, created_by) VALUES (1, 'shop/production', 1, 'shop', ?, '{}', 'h', '/x', 1, 'a')").run(DIGEST);
    });
    expect(() => new StateStore(file)).toThrow(/table rollouts has columns \(.*note\)/);
    const db = new Database(file, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(13);
    // releases was rebuilt before rollouts failed: rolled back with the rest.
    expect(db.prepare("SELECT COUNT(*) FROM sqlite_master WHERE sql LIKE '%AUTOINCREMENT%' OR name LIKE 'new_%'").pluck().get()).toBe(2);
    expect(db.prepare('SELECT id FROM releases').pluck().all()).toEqual([1]);
    db.close();
  });

  it('a row that referred to a missing one before the migration does not stop it', () => {
    const file = oldDatabase((old) => {
      old.pragma('foreign_keys = OFF');
      old.prepare("INSERT INTO instances (id, env, release_id, port, state, log_path, created_at) VALUES ('x-1-abc', 'shop/production', 7, 5000, 'stopped', '/x.log', 1)").run();
    });
    const store = new StateStore(file);
    expect(store.db.pragma('user_version', { simple: true })).toBe(schemaVersion());
    expect(store.getInstance('x-1-abc')?.releaseId).toBe(7);
    store.close();
  });
});
