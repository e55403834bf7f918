// Redaction of a byte stream that arrives in arbitrary chunks: a secret may be cut
// anywhere, even inside one UTF-8 character. Whole lines go out as soon as their
// newline arrives; a line longer than the limit goes out in pieces, each time
// holding back just enough bytes (the longest secret minus one) that a secret
// starting in what was written would have been seen whole.

import type { Redactor } from './redactor.ts';

export interface StreamRedactorOptions {
  /** A line without a newline is written in pieces past this many bytes, so memory stays bounded. */
  maxLineBytes?: number;
}

export class StreamRedactor {
  private pending: Buffer = Buffer.alloc(0);
  private readonly maxLineBytes: number;

  constructor(
    private readonly redactor: Redactor,
    opts: StreamRedactorOptions = {},
  ) {
    this.maxLineBytes = opts.maxLineBytes ?? 64 * 1024;
  }

  /** Bytes held back, waiting for the rest of their line. */
  get pendingBytes(): number {
    return this.pending.length;
  }

  /** Takes a chunk; returns what may be written now (possibly nothing). */
  push(chunk: Buffer): Buffer {
    const buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const nl = buf.lastIndexOf(0x0a);
    const out: Buffer[] = [];
    let rest = buf;
    if (nl >= 0) {
      // No masked form holds a newline, so no secret spans the cut.
      out.push(this.redactor.redactBytes(buf.subarray(0, nl + 1)));
      rest = buf.subarray(nl + 1);
    }
    this.pending = rest;
    if (this.pending.length > this.maxLineBytes) out.push(this.flushSafe());
    // Copy what is kept, so the caller's chunk (a pooled buffer) can be reused.
    this.pending = Buffer.from(this.pending);
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }

  /**
   * As much of an unfinished line as can be written without risk: everything but the
   * last (longest secret - 1) bytes, which might be the start of a secret.
   */
  flushSafe(): Buffer {
    const keep = Math.max(0, this.redactor.longestBytes - 1);
    const limit = this.pending.length - keep;
    if (limit <= 0) return Buffer.alloc(0);
    const { out, consumed } = this.redactor.redactUpTo(this.pending, limit);
    this.pending = Buffer.from(this.pending.subarray(consumed));
    return out;
  }

  /** The input ended: everything left, masked. */
  end(): Buffer {
    const out = this.redactor.redactBytes(this.pending);
    this.pending = Buffer.alloc(0);
    return out;
  }
}
