// The audit trail: the chained log in state.db plus a signed checkpoint of its head,
// rewritten after every entry (audit-head.json). The chain shows an edited,
// removed or reordered entry; the checkpoint also shows a cut tail. Values that
// are secrets never get in: every entry passes the redactor first.
//
// No entry is dropped silently. An entry that cannot be written (a full disk:
// SQLITE_FULL, ENOSPC) waits in memory, in order, with the time it happened, and
// is written as soon as the disk takes it again; later entries queue behind it, so
// the chain (whose seq and hashes are made at write time) stays whole. Past
// MAX_WAITING entries, the newest are counted instead of kept, and the count is
// itself written as an `audit.lost` entry in their place.

import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomicSync } from '../platform/atomic-file.ts';
import type { AuditEntry, AuditInput, AuditLog, AuditQuery, ChainProblem } from '../store/audit-log.ts';
import type { SigningKey } from './signing-key.ts';

export type { AuditEntry } from '../store/audit-log.ts';

export interface Checkpoint {
  seq: number;
  hash: string;
  at: number;
  keyId: string;
  signature: string;
}

export interface AuditVerification {
  ok: boolean;
  entries: number;
  head: { seq: number; hash: string } | null;
  checkpoint: { seq: number; at: number; keyId: string; signatureValid: boolean } | null;
  problem: ChainProblem | null;
  /** Said when the checkpoint is missing: a cut tail cannot then be ruled out. */
  warning: string | null;
}

const checkpointText = (c: Omit<Checkpoint, 'signature' | 'keyId'>) => `slipway audit checkpoint v1\n${c.seq}\n${c.hash}\n${c.at}\n`;

/** Entries kept in memory while they cannot be written (a few MB at most). */
export const MAX_WAITING = 10_000;
const RETRY_EVERY_MS = 1000;

/** What the audit trail owes the disk: for /readyz and /metrics. */
export interface AuditHealth {
  /** Entries waiting in memory to be written (an `audit.lost` count is one of them). */
  waiting: number;
  /** Failed attempts to write an entry or the checkpoint, since the server started. */
  writeFailures: number;
  /** Entries not kept because MAX_WAITING were already waiting (each is counted in an audit.lost entry). */
  lost: number;
  /** True while the signed checkpoint is behind the last entry written. */
  checkpointBehind: boolean;
  lastError: string | null;
}

export interface AuditTrailOptions {
  redact?: (text: string) => string;
  /** Told of each write failure (the first of a series, and when the backlog is written). */
  onProblem?: (message: string, fields: Record<string, unknown>) => void;
  retryEveryMs?: number;
  now?: () => number;
}

type Waiting =
  | { kind: 'entry'; input: AuditInput; at: number }
  | { kind: 'lost'; count: number; firstAt: number; lastAt: number };

export class AuditTrail {
  private readonly waiting: Waiting[] = [];
  private writeFailures = 0;
  private lost = 0;
  private checkpointBehind: Omit<Checkpoint, 'signature' | 'keyId'> | null = null;
  private lastError: string | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly redact: (text: string) => string;
  private readonly now: () => number;

  constructor(
    private readonly log: AuditLog,
    private readonly key: SigningKey,
    private readonly checkpointFile: string,
    private readonly options: AuditTrailOptions = {},
  ) {
    this.redact = options.redact ?? ((t) => t);
    this.now = options.now ?? Date.now;
  }

  /**
   * Writes the entry, after any that still wait. Never throws: an entry that cannot
   * be written (a full disk, mostly) waits instead, and null is returned.
   */
  append(input: AuditInput): AuditEntry | null {
    const clean: AuditInput = {
      ...input,
      target: input.target === null ? null : this.redact(input.target),
      details: JSON.parse(this.redact(JSON.stringify(input.details))) as Record<string, unknown>,
    };
    const at = this.now();
    // A full queue first makes room, if the disk has some again.
    if (this.waiting.length >= MAX_WAITING) this.flush();
    this.enqueue(clean, at);
    const written = this.flush();
    return this.waiting.length === 0 ? written.at(-1) ?? null : null;
  }

  health(): AuditHealth {
    return { waiting: this.waiting.length, writeFailures: this.writeFailures, lost: this.lost, checkpointBehind: this.checkpointBehind !== null, lastError: this.lastError };
  }

  /**
   * Tries once more, stops retrying, and hands back what still could not be
   * written (for the server's log: the last place such an entry can go).
   */
  close(): Array<AuditInput & { at: number }> {
    this.flush();
    this.stopRetrying();
    return this.waiting.map((w) => (w.kind === 'entry' ? { ...w.input, at: w.at } : { ...lostEntry(w), at: w.lastAt }));
  }

  private enqueue(input: AuditInput, at: number): void {
    if (this.waiting.length < MAX_WAITING) {
      this.waiting.push({ kind: 'entry', input, at });
      return;
    }
    this.lost++;
    const last = this.waiting.at(-1)!;
    if (last.kind === 'lost') {
      last.count++;
      last.lastAt = at;
    } else {
      this.waiting.push({ kind: 'lost', count: 1, firstAt: at, lastAt: at });
    }
  }

  /**
   * Writes what waits, oldest first, stopping at the first failure (the rest keep
   * their order for the next try). Returns the entries written.
   */
  flush(): AuditEntry[] {
    const written: AuditEntry[] = [];
    while (this.waiting.length > 0) {
      const next = this.waiting[0]!;
      const input = next.kind === 'entry' ? next.input : lostEntry(next);
      const at = next.kind === 'entry' ? next.at : next.lastAt;
      let entry: AuditEntry;
      try {
        // A failed append left nothing behind: its transaction was rolled back
        // (better-sqlite3 issues ROLLBACK when the COMMIT fails), so a retry cannot
        // write an entry twice.
        entry = this.log.append(input, at);
      } catch (e) {
        this.failed('an audit entry could not be written; it waits in memory and is written once the disk has room', e);
        break;
      }
      this.waiting.shift();
      written.push(entry);
      this.checkpointBehind = { seq: entry.seq, hash: entry.hash, at: entry.at };
    }
    if (this.checkpointBehind !== null) {
      try {
        this.writeCheckpoint(this.checkpointBehind);
        this.checkpointBehind = null;
      } catch (e) {
        this.failed('the signed audit checkpoint could not be written; it is written with the next entry or retry', e);
      }
    }
    const owed = this.waiting.length > 0 || this.checkpointBehind !== null;
    if (owed) this.retryLater();
    else {
      this.stopRetrying();
      if (this.lastError !== null) {
        this.options.onProblem?.('the audit entries that waited for disk space are written', { written: written.length, failures: this.writeFailures });
        this.lastError = null;
      }
    }
    return written;
  }

  private failed(message: string, e: unknown): void {
    this.writeFailures++;
    const first = this.lastError === null;
    this.lastError = (e as Error).message ?? String(e);
    // One line per series, not one per retry: a full disk may last hours.
    if (first) this.options.onProblem?.(message, { err: this.lastError, code: (e as { code?: unknown }).code, waiting: this.waiting.length });
  }

  private retryLater(): void {
    if (this.retryTimer) return;
    this.retryTimer = setInterval(() => this.flush(), this.options.retryEveryMs ?? RETRY_EVERY_MS);
    this.retryTimer.unref();
  }

  private stopRetrying(): void {
    if (this.retryTimer) clearInterval(this.retryTimer);
    this.retryTimer = null;
  }

  list(q: AuditQuery): AuditEntry[] {
    return this.log.list(q);
  }

  private writeCheckpoint(c: Omit<Checkpoint, 'signature' | 'keyId'>): void {
    const full: Checkpoint = { ...c, keyId: this.key.keyId, signature: this.key.sign(checkpointText(c)) };
    writeFileAtomicSync(this.checkpointFile, `${JSON.stringify(full)}\n`);
  }

  readCheckpoint(): Checkpoint | null {
    if (!existsSync(this.checkpointFile)) return null;
    try {
      return JSON.parse(readFileSync(this.checkpointFile, 'utf8')) as Checkpoint;
    } catch {
      return null;
    }
  }

  verify(): AuditVerification {
    const chain = this.log.verifyChain();
    const cp = this.readCheckpoint();
    const signatureValid = cp !== null && cp.keyId === this.key.keyId && this.key.verify(checkpointText(cp), cp.signature);
    const checkpoint = cp ? { seq: cp.seq, at: cp.at, keyId: cp.keyId, signatureValid } : null;
    const answer = (problem: ChainProblem | null, warning: string | null = null): AuditVerification =>
      ({ ok: problem === null, entries: chain.entries, head: chain.head, checkpoint, problem, warning });
    if (chain.problem) return answer(chain.problem);
    if (!cp) return answer(null, chain.entries > 0 ? 'no signed checkpoint (audit-head.json) was found: a cut tail cannot be ruled out' : null);
    if (!signatureValid) {
      return answer({ seq: cp.seq, kind: 'altered', message: 'the checkpoint audit-head.json is not signed by this server\'s key: it was altered or replaced' });
    }
    const headSeq = chain.head?.seq ?? 0;
    if (headSeq < cp.seq) {
      return answer({ seq: headSeq + 1, kind: 'truncated', message: `the log ends at entry ${headSeq}, but the signed checkpoint says entry ${cp.seq} was written: entries ${headSeq + 1}–${cp.seq} were cut off` });
    }
    const at = this.log.entryAt(cp.seq);
    if (!at || at.hash !== cp.hash) {
      return answer({ seq: cp.seq, kind: 'altered', message: `entry ${cp.seq} differs from the one the signed checkpoint recorded` });
    }
    return answer(null);
  }
}

/** What stands in the log for entries that could not even wait in memory. */
function lostEntry(l: { count: number; firstAt: number; lastAt: number }): AuditInput {
  return {
    actor: 'slipway', action: 'audit.lost', env: null, target: null, requestId: null, outcome: 'error',
    details: { count: l.count, from: new Date(l.firstAt).toISOString(), to: new Date(l.lastAt).toISOString(), reason: `the disk was full and ${MAX_WAITING} entries were already waiting in memory` },
  };
}
