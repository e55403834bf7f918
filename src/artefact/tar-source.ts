// An artefact file as a stream of plain tar bytes, hashed on the way in and
// inflated by node:zlib with a cap on what comes out. node-tar can gunzip by
// itself, but it inflates on the event loop, a whole read at a time (64 KiB of
// zeros in, 64 MiB out, in one synchronous call): a 4 MB bomb held the API for
// over a minute. node:zlib inflates on the thread pool, in 64 KiB pieces, and
// stops the moment the cap is passed.

import { createReadStream } from 'node:fs';
import { Transform, pipeline, type Readable, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { overLimit } from './artefact-limits.ts';
import { SlipwayError } from '../core/errors.ts';
import { DigestTap } from './digest.ts';

export interface TarSource {
  /** Plain tar bytes; pipe it into a node-tar Parser or Unpack. */
  tar: Readable;
  /** sha256 of the compressed bytes read; meaningful once `tar` has ended. */
  digest: () => string;
  /** Stops reading and inflating. */
  destroy: () => void;
}

const GZIP_MAGIC = 0x1f;

/** `onError` receives the first error of any stage: a read error, bad gzip data, or a limit passed. */
export function openTarSource(file: string, o: { maxDecompressedBytes: number; onError: (e: unknown) => void }): TarSource {
  const source = createReadStream(file);
  const tap = new DigestTap();
  const gunzip = createGunzip({ chunkSize: 64 * 1024 });
  const cap = new InflatedCap(o.maxDecompressedBytes);
  pipeline(source, tap, gunzip, cap, (e) => {
    if (e) o.onError(e);
  });
  return {
    tar: cap,
    digest: () => tap.digest(),
    destroy: () => source.destroy(),
  };
}

interface TarSink {
  write(chunk: Buffer): boolean;
  end(): unknown;
  on(event: 'eof' | 'drain', listener: () => void): unknown;
}

/**
 * Feeds plain tar bytes to a node-tar Parser or Unpack, with backpressure, until the
 * parser has seen the end-of-archive blocks. Not pipe(): past its end node-tar
 * appends every chunk to a buffer by Buffer.concat, so megabytes of trailing zeros
 * cost time that grows with the square of their length (16 MiB took 8 s), and a
 * piped source may stall. Past the end the bytes still flow, unparsed, through the
 * digest and the cap, which refuses them past the limit.
 */
export function feedTar(tar: Readable, sink: TarSink): void {
  let eof = false;
  sink.on('eof', () => {
    eof = true;
    tar.resume();
  });
  sink.on('drain', () => tar.resume());
  tar.on('data', (chunk: Buffer) => {
    if (!eof && !sink.write(chunk)) tar.pause();
  });
  tar.on('end', () => sink.end());
}

/** Counts the inflated bytes; refuses past the cap, and refuses a second layer of compression. */
class InflatedCap extends Transform {
  #bytes = 0;
  constructor(private readonly max: number) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    // node-tar would gunzip an inner .tar.gz itself, on the event loop, with no cap.
    if (this.#bytes === 0 && chunk.length > 0 && chunk[0] === GZIP_MAGIC) {
      done(new SlipwayError('E_ARTEFACT_INVALID', 'the artefact is compressed twice; upload the .tar.gz that `slipway deploy` packs', { limit: 'nesting' }));
      return;
    }
    this.#bytes += chunk.length;
    if (this.#bytes > this.max) {
      done(overLimit({ what: 'the artefact inflates to more bytes than allowed', limit: 'maxDecompressedBytes', value: this.max }));
      return;
    }
    done(null, chunk);
  }
}
