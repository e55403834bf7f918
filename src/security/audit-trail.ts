// The audit trail: the chained log in state.db plus a signed checkpoint of its head,
// rewritten after every entry (audit-head.json). The chain shows an edited,
// removed or reordered entry; the checkpoint also shows a cut tail. Values that
// are secrets never get in: every entry passes the redactor first.

import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
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

export class AuditTrail {
  constructor(
    private readonly log: AuditLog,
    private readonly key: SigningKey,
    private readonly checkpointFile: string,
    private readonly redact: (text: string) => string = (t) => t,
  ) {}

  append(input: AuditInput): AuditEntry {
    const clean: AuditInput = {
      ...input,
      target: input.target === null ? null : this.redact(input.target),
      details: JSON.parse(this.redact(JSON.stringify(input.details))) as Record<string, unknown>,
    };
    const entry = this.log.append(clean);
    this.writeCheckpoint({ seq: entry.seq, hash: entry.hash, at: entry.at });
    return entry;
  }

  list(q: AuditQuery): AuditEntry[] {
    return this.log.list(q);
  }

  private writeCheckpoint(c: Omit<Checkpoint, 'signature' | 'keyId'>): void {
    const full: Checkpoint = { ...c, keyId: this.key.keyId, signature: this.key.sign(checkpointText(c)) };
    const tmp = `${this.checkpointFile}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(full)}\n`);
    renameSync(tmp, this.checkpointFile);
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
