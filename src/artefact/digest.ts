// Content addresses for artefacts: 'sha256:<hex>', the form the store, the API and
// the CLI all print, so a digest can be pasted from one into another unchanged.

import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export const DIGEST_PREFIX = 'sha256:';

const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;

/** True when `s` is a well-formed artefact digest (lower-case hex, as we print them). */
export function isDigest(s: string): boolean {
  return DIGEST_PATTERN.test(s);
}

/** Streams the file through sha256, so a 500 MiB artefact never sits in memory. */
export async function sha256File(path: string): Promise<string> {
  const tap = new DigestTap();
  await pipeline(createReadStream(path), tap, async (source: AsyncIterable<unknown>) => {
    for await (const _chunk of source) {
      // drain: the tap has already hashed it
    }
  });
  return tap.digest();
}

/**
 * A pass-through stream that hashes and counts what flows through it. Used wherever
 * bytes are hashed on their way somewhere else (packing to disk, unpacking to tar),
 * so the digest describes exactly the bytes that were used, not a second read.
 */
export class DigestTap extends Transform {
  #hash: Hash = createHash('sha256');
  #bytes = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#hash.update(chunk);
    this.#bytes += chunk.length;
    done(null, chunk);
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Only meaningful once the stream has ended. */
  digest(): string {
    return DIGEST_PREFIX + this.#hash.copy().digest('hex');
  }
}
