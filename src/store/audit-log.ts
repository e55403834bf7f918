// The audit log: append-only, each entry chained to the one before by SHA-256 so an
// edited, removed or reordered entry shows. The chain is checked here; signed
// checkpoints (which also show a cut tail) are security/'s.

import { envNameOf } from '../core/env-key.ts';
import { createHash } from 'node:crypto';
import type { Db } from './open-database.ts';

export const GENESIS_HASH = '0'.repeat(64);

export interface AuditInput {
  actor: string;
  action: string;
  env: string | null;
  target: string | null;
  requestId: string | null;
  /** ok: done; refused: the request was invalid or not allowed; error: it failed. */
  outcome: 'ok' | 'refused' | 'denied' | 'error';
  details: Record<string, unknown>;
}

export interface AuditEntry extends AuditInput {
  seq: number;
  at: number;
  prevHash: string;
  hash: string;
}

export interface AuditQuery {
  env?: string | undefined;
  actor?: string | undefined;
  action?: string | undefined;
  since?: number | undefined;
  afterSeq?: number | undefined;
  limit?: number | undefined;
}

export type ChainProblemKind = 'altered' | 'removed' | 'reordered' | 'truncated';

export interface ChainProblem {
  seq: number;
  kind: ChainProblemKind;
  message: string;
}

export interface ChainCheck {
  entries: number;
  head: { seq: number; hash: string } | null;
  problem: ChainProblem | null;
}

type Row = Record<string, unknown>;

/** The bytes an entry's hash covers: every field, in a fixed order, and the previous hash. */
export function entryHash(e: Omit<AuditEntry, 'hash'>): string {
  const body = JSON.stringify([e.seq, e.at, e.actor, e.action, e.env, e.target, e.requestId, e.outcome, e.details, e.prevHash]);
  return createHash('sha256').update(body).digest('hex');
}

function toEntry(r: Row): AuditEntry {
  let details: Record<string, unknown>;
  try {
    details = JSON.parse(String(r.details_json)) as Record<string, unknown>;
  } catch {
    details = { unreadable: String(r.details_json) };
  }
  const s = (v: unknown) => (v === null ? null : String(v));
  return {
    seq: Number(r.seq), at: Number(r.at), actor: String(r.actor), action: String(r.action), env: s(r.env), target: s(r.target),
    requestId: s(r.request_id), outcome: String(r.outcome) as AuditEntry['outcome'], details, prevHash: String(r.prev_hash), hash: String(r.hash),
  };
}

export class AuditLog {
  constructor(private readonly db: Db) {}

  /** Appends one entry in its own transaction; the chain head it reads cannot move under it. */
  append(input: AuditInput, at = Date.now()): AuditEntry {
    return this.db.transaction((): AuditEntry => {
      const last = this.db.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1').get() as Row | undefined;
      const seqRow = this.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").get() as Row | undefined;
      const seq = Math.max(Number(seqRow?.seq ?? 0), Number(last?.seq ?? 0)) + 1;
      const base = { ...input, seq, at, prevHash: last ? String(last.hash) : GENESIS_HASH };
      const entry: AuditEntry = { ...base, hash: entryHash(base) };
      this.db.prepare(`INSERT INTO audit_log (seq, at, actor, action, env, target, request_id, outcome, details_json, prev_hash, hash)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
        entry.seq, entry.at, entry.actor, entry.action, entry.env, entry.target, entry.requestId, entry.outcome, JSON.stringify(entry.details), entry.prevHash, entry.hash,
      );
      return entry;
    }).immediate();
  }

  list(q: AuditQuery = {}): AuditEntry[] {
    const where: string[] = [];
    const args: unknown[] = [];
    // An entry written before environments were keyed by service says `production`; it is shop/production's.
    if (q.env !== undefined) (where.push('(env = ? OR env = ?)'), args.push(q.env, envNameOf(q.env)));
    if (q.actor !== undefined) (where.push('actor = ?'), args.push(q.actor));
    if (q.action !== undefined) (where.push('action = ?'), args.push(q.action));
    if (q.since !== undefined) (where.push('at >= ?'), args.push(q.since));
    if (q.afterSeq !== undefined) (where.push('seq > ?'), args.push(q.afterSeq));
    const sql = `SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq LIMIT ?`;
    return (this.db.prepare(sql).all(...args, q.limit ?? 1_000_000) as Row[]).map(toEntry);
  }

  head(): { seq: number; hash: string } | null {
    const r = this.db.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1').get() as Row | undefined;
    return r ? { seq: Number(r.seq), hash: String(r.hash) } : null;
  }

  entryAt(seq: number): AuditEntry | null {
    const r = this.db.prepare('SELECT * FROM audit_log WHERE seq = ?').get(seq) as Row | undefined;
    return r ? toEntry(r) : null;
  }

  /**
   * Recomputes the chain from the first entry and names the first place it breaks.
   * A cut tail leaves a valid chain: only a checkpoint (security/) shows that.
   */
  verifyChain(): ChainCheck {
    const rows = (this.db.prepare('SELECT * FROM audit_log ORDER BY seq').all() as Row[]).map(toEntry);
    const byHash = new Map(rows.map((e) => [e.hash, e] as const));
    let prev = GENESIS_HASH;
    let expectSeq = rows.length ? 1 : 0;
    for (const e of rows) {
      if (e.seq !== expectSeq) {
        const gap = e.seq - expectSeq === 1 ? `entry ${expectSeq} is` : `entries ${expectSeq}–${e.seq - 1} are`;
        return { entries: rows.length, head: null, problem: { seq: expectSeq, kind: 'removed', message: `${gap} missing: the log jumps from ${expectSeq - 1} to ${e.seq}` } };
      }
      if (e.prevHash !== prev) {
        const other = byHash.get(e.prevHash);
        const problem: ChainProblem = other && other.seq !== e.seq - 1
          ? { seq: e.seq, kind: 'reordered', message: `entry ${e.seq} follows entry ${other.seq} in the chain, but sits after entry ${e.seq - 1}: entries were moved` }
          : { seq: e.seq - 1, kind: 'altered', message: `entry ${e.seq - 1} was changed after it was written (its hash was recomputed, but entry ${e.seq} still holds the original's)` };
        return { entries: rows.length, head: null, problem };
      }
      if (entryHash(e) !== e.hash) {
        return { entries: rows.length, head: null, problem: { seq: e.seq, kind: 'altered', message: `entry ${e.seq} was changed after it was written: its contents no longer match its hash` } };
      }
      prev = e.hash;
      expectSeq++;
    }
    const last = rows.at(-1);
    return { entries: rows.length, head: last ? { seq: last.seq, hash: last.hash } : null, problem: null };
  }
}

