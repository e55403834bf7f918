// An uploaded artefact is a gzip-compressed tar (what `slipway deploy` and
// `slipway ci-release` pack), or it is refused while it arrives: random bytes or a
// zip used to be stored under their digest and answered 201, and failed only at
// deploy time, far from the upload that was wrong.

import { Transform, pipeline, type Readable, type TransformCallback } from 'node:stream';
import { createGunzip, type Gunzip } from 'node:zlib';
import { SlipwayError } from '../core/errors.ts';

const BLOCK = 512;
/** Compressed bytes inflated at most to find the first tar block; a real artefact needs a few hundred. */
const MAX_PROBE_BYTES = 1024 * 1024;
const WHAT_TO_SEND = 'send the .tar.gz of the service\'s directory, as slipway deploy and slipway ci-release make it; nothing was stored';

/**
 * `body` as it is, byte for byte, checked on the way: it must start as gzip, and its
 * first inflated block must be a tar header (or the zero block of an empty tar). A
 * body that is neither ends the returned stream with E_BAD_REQUEST, so whatever
 * writes it stores nothing; the check stops inflating once it has its answer.
 */
export function requireTarGz(body: Readable): Readable {
  const check = new TarGzCheck();
  // Errors travel both ways (a client that hangs up destroys the check), and the
  // callback is the listener that keeps an unread, refused body from crashing the server.
  return pipeline(body, check, () => undefined);
}

class TarGzCheck extends Transform {
  /** Chunks seen before the two bytes of the gzip magic were in (a body may arrive a byte at a time). */
  private pending: Buffer[] = [];
  private head = Buffer.alloc(0);
  private inflater: Gunzip | null = null;
  private inflated: Buffer[] = [];
  private inflatedBytes = 0;
  private fedBytes = 0;
  /** undefined until decided; then null (a tar.gz) or the refusal. */
  private verdict: SlipwayError | null | undefined;
  private onVerdict: (() => void) | null = null;
  private isInTransform = false;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.verdict === undefined) {
      this.isInTransform = true;
      this.probe(chunk);
      this.isInTransform = false;
    }
    done(this.verdict ?? null, this.verdict ? undefined : chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.verdict !== undefined) return done(this.verdict);
    if (!this.inflater) return done(notGzip(this.head));
    this.onVerdict = () => done(this.verdict);
    this.inflater.end();
  }

  private probe(chunk: Buffer): void {
    if (this.inflater) return this.feed(chunk);
    this.pending.push(chunk);
    const seen = Buffer.concat(this.pending);
    this.head = seen.subarray(0, 4);
    if (seen.length < 2) return;
    this.pending = [];
    if (seen[0] !== 0x1f || seen[1] !== 0x8b) return this.decide(notGzip(this.head));
    this.startInflating();
    this.feed(seen);
  }

  private startInflating(): void {
    const inflater = createGunzip();
    this.inflater = inflater;
    inflater.on('data', (c: Buffer) => {
      this.inflated.push(c);
      this.inflatedBytes += c.length;
      if (this.inflatedBytes >= BLOCK) this.decide(tarHeaderProblem(Buffer.concat(this.inflated).subarray(0, BLOCK)));
    });
    inflater.on('error', (e) => this.decide(new SlipwayError('E_BAD_REQUEST', `the artefact starts as gzip but is not valid gzip (${e.message}); ${WHAT_TO_SEND}`, { reason: 'not gzip' }, { cause: e })));
    inflater.on('end', () => this.decide(new SlipwayError('E_BAD_REQUEST', `the artefact is gzip, but not a tar archive: it inflates to ${this.inflatedBytes} bytes, less than one tar block; ${WHAT_TO_SEND}`, { reason: 'not a tar' })));
  }

  private feed(chunk: Buffer): void {
    if (this.verdict !== undefined || !this.inflater) return;
    const room = MAX_PROBE_BYTES - this.fedBytes;
    if (room <= 0) return;
    this.fedBytes += Math.min(room, chunk.length);
    this.inflater.write(chunk.subarray(0, room));
    if (this.fedBytes >= MAX_PROBE_BYTES) this.inflater.end();
  }

  /** The first answer stands. A refusal found while inflating ends the stream now, not after the whole body. */
  private decide(problem: SlipwayError | null): void {
    if (this.verdict !== undefined) return;
    this.verdict = problem;
    this.inflated = [];
    if (this.inflater) {
      this.inflater.removeAllListeners('data');
      this.inflater.on('error', () => undefined);
      this.inflater.destroy();
    }
    if (this.onVerdict) this.onVerdict();
    else if (problem && !this.isInTransform) this.destroy(problem);
  }
}

function notGzip(head: Buffer): SlipwayError {
  const looks = head.subarray(0, 4).equals(Buffer.from('PK\x03\x04', 'latin1')) ? ' (it is a zip archive)' : '';
  const start = head.length === 0 ? 'it is empty' : `it starts with bytes ${[...head].map((b) => b.toString(16).padStart(2, '0')).join(' ')}, not gzip's 1f 8b`;
  return new SlipwayError('E_BAD_REQUEST', `the artefact is not gzip-compressed${looks}: ${start}; ${WHAT_TO_SEND}`, { reason: 'not gzip' });
}

/** null when `block` is a tar header (its checksum holds) or the all-zero block that ends a tar. */
function tarHeaderProblem(block: Buffer): SlipwayError | null {
  if (block.every((b) => b === 0)) return null;
  const recorded = Number.parseInt(block.subarray(148, 156).toString('latin1').replace(/[\0 ]+$/, '').trim(), 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  if (recorded === sum) return null;
  return new SlipwayError('E_BAD_REQUEST', `the artefact is gzip, but not a tar archive: its first block is no tar header; ${WHAT_TO_SEND}`, { reason: 'not a tar' });
}
