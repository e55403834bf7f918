import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { AuditLog, type AuditInput } from '../store/audit-log.ts';
import { AuditTrail, MAX_WAITING } from './audit-trail.ts';
import { loadOrCreateSigningKey } from './signing-key.ts';

const dir = mkdtempSync(join(tmpdir(), 'slipway-audit-'));
const { key } = loadOrCreateSigningKey(join(dir, 'signing.key'));

/** An audit log whose writes fail with SQLITE_FULL while `full` is set, as on a full disk. */
function fillableLog(): { log: AuditLog; setFull(full: boolean): void } {
  const db = new Database(':memory:');
  db.exec(`CREATE TABLE audit_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    env TEXT, target TEXT, request_id TEXT, outcome TEXT NOT NULL, details_json TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)`);
  const log = new AuditLog(db);
  let full = false;
  const append = log.append.bind(log);
  log.append = (input, at) => {
    if (full) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    return append(input, at);
  };
  return { log, setFull: (f) => (full = f) };
}

const entry = (action: string): AuditInput => ({ actor: 'alice', action, env: 'production', target: null, requestId: null, outcome: 'error', details: { status: 507 } });

describe('audit trail on a full disk', () => {
  it('keeps entries that cannot be written and writes them in order, with their own times, once the disk has room', () => {
    const { log, setFull } = fillableLog();
    let now = 1000;
    const problems: string[] = [];
    const trail = new AuditTrail(log, key, join(dir, 'head-1.json'), { now: () => now, retryEveryMs: 60_000, onProblem: (m) => problems.push(m) });
    trail.append(entry('deploy'));
    setFull(true);
    for (const action of ['rollback', 'config.set']) {
      now += 1000;
      expect(trail.append(entry(action))).toBeNull();
    }
    expect(trail.health()).toMatchObject({ waiting: 2, writeFailures: 2, lost: 0 });
    expect(log.list().map((e) => e.action)).toEqual(['deploy']);
    expect(problems).toHaveLength(1);
    setFull(false);
    now += 1000;
    const written = trail.append(entry('secret.set'));
    expect(written?.action).toBe('secret.set');
    expect(log.list().map((e) => [e.seq, e.action, e.at])).toEqual([[1, 'deploy', 1000], [2, 'rollback', 2000], [3, 'config.set', 3000], [4, 'secret.set', 4000]]);
    expect(trail.health()).toMatchObject({ waiting: 0, checkpointBehind: false, lastError: null });
    expect(trail.verify()).toMatchObject({ ok: true, entries: 4, checkpoint: { seq: 4, signatureValid: true } });
    expect(problems).toHaveLength(2);
  });

  it('retries by itself, without a new entry to push it', async () => {
    const { log, setFull } = fillableLog();
    const trail = new AuditTrail(log, key, join(dir, 'head-2.json'), { retryEveryMs: 20 });
    setFull(true);
    trail.append(entry('rollback'));
    setFull(false);
    await new Promise((r) => setTimeout(r, 100));
    expect(trail.health().waiting).toBe(0);
    expect(log.list().map((e) => e.action)).toEqual(['rollback']);
    expect(trail.verify().ok).toBe(true);
  });

  it('counts entries beyond what it keeps in one audit.lost entry, in their place', () => {
    const { log, setFull } = fillableLog();
    const trail = new AuditTrail(log, key, join(dir, 'head-3.json'), { retryEveryMs: 60_000 });
    setFull(true);
    for (let i = 0; i < MAX_WAITING + 5; i++) trail.append(entry(`a${i}`));
    expect(trail.health()).toMatchObject({ waiting: MAX_WAITING + 1, lost: 5 });
    setFull(false);
    trail.append(entry('after'));
    const actions = log.list().map((e) => e.action);
    expect(actions).toHaveLength(MAX_WAITING + 2);
    expect(actions.slice(-3)).toEqual([`a${MAX_WAITING - 1}`, 'audit.lost', 'after']);
    expect(log.list({ action: 'audit.lost' })[0]?.details).toMatchObject({ count: 5 });
    expect(trail.verify().ok).toBe(true);
  });

  it('leaves no temporary file behind when the checkpoint cannot be written, and writes it later', () => {
    const { log } = fillableLog();
    const headDir = join(dir, 'missing-dir');
    const trail = new AuditTrail(log, key, join(headDir, 'head.json'), { retryEveryMs: 60_000 });
    expect(trail.append(entry('deploy'))?.seq).toBe(1);
    expect(trail.health()).toMatchObject({ waiting: 0, checkpointBehind: true });
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
