// Sends the blobs the server lacks, as one gzipped stream (store/blob-store.ts has
// the format): thousands of small node_modules files cost one request, not one
// each, and nothing of the tree is packed or held in memory whole.

import { open } from 'node:fs/promises';
import { PassThrough, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants as fsConstants } from 'node:fs';
import { createGzip } from 'node:zlib';
import { SlipwayError, errorMessage } from '../core/errors.ts';
import { blobFrameHeader } from '../store/blob-store.ts';
import type { ApiClient } from './api-client.ts';
import type { FileManifest } from './file-manifest.ts';

const READ_FLAGS = fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0);

/** Ends the batch's pipeline once the request is over; never what the user is told. */
const ABANDONED = new Error('the blob batch was abandoned: the request ended first');

export interface SentBlobs {
  blobs: number;
  /** The blobs' own bytes. */
  bytes: number;
  /** What went over the wire (gzipped). */
  wireBytes: number;
}

export async function sendMissingBlobs(client: ApiClient, service: string, missing: readonly string[], sources: FileManifest['sources']): Promise<SentBlobs> {
  let bytes = 0;
  let wireBytes = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _enc, done) {
      wireBytes += chunk.length;
      done(null, chunk);
    },
  });
  const body = new PassThrough();
  // Level 1: most of gzip's saving on source text at a fraction of its time.
  let localError: unknown = null;
  const sending = pipeline(Readable.from(frames(missing, sources, (n) => (bytes += n))), createGzip({ level: 1 }), counted, body).catch((e: unknown) => {
    localError = e;
  });
  try {
    await client.sendBlobs(body, service);
  } catch (e) {
    // The server refused the batch before reading all of it (a limit, a file that
    // changed, a full disk), or the request failed. fetch neither reads nor cancels
    // the rest of the body then: left alone, `sending` never settles, the event loop
    // empties and `slipway deploy` exits 0 having said and deployed nothing.
    body.destroy(ABANDONED);
    await sending;
    throw localError !== null && localError !== ABANDONED ? localError : e;
  }
  await sending;
  if (localError) throw localError;
  return { blobs: missing.length, bytes, wireBytes };
}

async function* frames(missing: readonly string[], sources: FileManifest['sources'], onBytes: (n: number) => void): AsyncGenerator<Buffer> {
  for (const hex of missing) {
    const src = sources.get(hex);
    if (!src) throw new SlipwayError('E_INTERNAL', `the server asked for blob ${hex}, which is no file of this tree`);
    yield Buffer.from(blobFrameHeader(hex, src.size));
    let read = 0;
    try {
      const handle = await open(src.absolutePath, READ_FLAGS);
      const stream = handle.createReadStream({ start: 0, end: Math.max(0, src.size) });
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        const room = src.size - read;
        if (chunk.length >= room) {
          // A file that grew since it was hashed (a log being appended to) is sent as it
          // was hashed: its first `size` bytes, as the tarball path always packed it.
          if (room > 0) yield chunk.subarray(0, room);
          read = src.size;
          stream.destroy();
          break;
        }
        read += chunk.length;
        yield chunk;
      }
    } catch (cause) {
      throw new SlipwayError('E_ARTEFACT_INVALID', `cannot read "${src.path}": ${errorMessage(cause)}`, { entry: src.path }, { cause });
    }
    if (read !== src.size) {
      throw new SlipwayError('E_ARTEFACT_INVALID', `"${src.path}" changed while it was being sent; stop whatever writes to it and deploy again`, { entry: src.path });
    }
    onBytes(src.size);
  }
}
