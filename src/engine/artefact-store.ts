// Receiving uploaded artefacts: stored under their sha256, verified while they are
// written, never trusted on the uploader's word.

import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SlipwayError } from '../core/errors.ts';
import type { ArtefactRecord } from '../core/records.ts';
import { artefactLimitsFrom, overLimit } from '../artefact/index.ts';
import { replaceFileAtomic } from '../platform/atomic-file.ts';
import type { StateStore } from '../store/state-store.ts';

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s);
}

export function artefactPath(dir: string, digest: string): string {
  return join(dir, `${digest.replace(':', '-')}.tar.gz`);
}

export async function receiveArtefact(opts: {
  store: StateStore;
  dir: string;
  /**
   * Unused (callers may drop it): an upload is written beside its final name, as
   * platform/atomic-file.ts does, so its rename never crosses a file system.
   */
  tmpDir?: string;
  body: Readable;
  claimedDigest: string;
  service: string;
  now: number;
  /** Default: SLIPWAY_MAX_UPLOAD_BYTES, else 1 GiB. Counted as the bytes arrive, whatever Content-Length said (or a chunked body did not). */
  maxBytes?: number;
}): Promise<ArtefactRecord> {
  const maxBytes = opts.maxBytes ?? artefactLimitsFrom(process.env).maxUploadBytes;
  if (!isDigest(opts.claimedDigest)) {
    throw new SlipwayError('E_BAD_REQUEST', `artefact digest must look like sha256:<64 hex digits>, got "${opts.claimedDigest.slice(0, 80)}"`);
  }
  const existing = opts.store.getArtefact(opts.claimedDigest);
  if (existing && existsSync(existing.path)) {
    // Not read: drained. Its error is nobody's now (a file stream whose file its caller
    // removes once this returns fails to open), and unheard it would end the server.
    opts.body.on('error', () => undefined);
    opts.body.resume();
    return existing;
  }
  mkdirSync(opts.dir, { recursive: true });
  const path = artefactPath(opts.dir, opts.claimedDigest);
  const hash = createHash('sha256');
  let received = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _enc, done) {
      received += chunk.length;
      if (received > maxBytes) {
        done(overLimit({ what: 'the upload is larger than allowed', limit: 'maxUploadBytes', value: maxBytes }));
        return;
      }
      hash.update(chunk);
      done(null, chunk);
    },
  });
  // Only bytes whose digest was checked ever carry the artefact's name; a refused or
  // broken upload leaves nothing behind.
  await replaceFileAtomic(path, async (tmp) => {
    await pipeline(opts.body, counted, createWriteStream(tmp));
    const actual = `sha256:${hash.digest('hex')}`;
    if (actual !== opts.claimedDigest) {
      throw new SlipwayError('E_ARTEFACT_TAMPERED', `uploaded artefact has digest ${actual}, not the claimed ${opts.claimedDigest}; it was altered in transit or packed wrongly`, { actual, claimed: opts.claimedDigest });
    }
  });
  const record: ArtefactRecord = { digest: opts.claimedDigest, service: opts.service, bytes: statSync(path).size, path, createdAt: opts.now };
  opts.store.putArtefact(record);
  return record;
}
