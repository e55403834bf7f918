// Writes tar bytes that depend only on the tree's content: names, bytes, exec bits
// and symlink targets. Everything else a tar header can carry (owner, times, umask
// leftovers, inode numbers, hardlink structure) is fixed, so packing the same
// content twice, anywhere, gives the same digest.
//
// node-tar's Pack would stat and encode these fields itself; we only borrow its
// Header/Pax encoders and decide every field here.

import { createHash } from 'node:crypto';
import { closeSync, constants as fsConstants, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { Header, Pax } from 'tar';
import { SlipwayError, errorMessage } from '../core/errors.ts';

/** The fixed mtime of every entry: 1980-01-01, the zip epoch many reproducible-build tools use. */
export const FIXED_MTIME = new Date(Date.UTC(1980, 0, 1));

const BLOCK = 512;

export type PackEntryType = 'file' | 'directory' | 'symlink';

export interface PackEntry {
  /** '/'-separated, relative to the packed directory. */
  path: string;
  absolutePath: string;
  type: PackEntryType;
  /** Only the exec bit of a file survives: 0o755 if any x bit is set, else 0o644. */
  isExecutable: boolean;
  /** Bytes of a file, as seen when the tree was walked; 0 otherwise. */
  size: number;
  linkpath?: string;
  /** A file's stat as the walk saw it (not packed): lets the CLI's file-hash cache skip a second lstat. */
  seen?: { mtimeMs: number; ctimeMs: number; ino: number };
  /** The sha256 (hex) the file's bytes must have: packing an artefact from stored blobs checks each as it reads it. */
  sha256?: string;
}

/** Files up to this size are read in one synchronous call: an awaited stream per file costs more than reading it. */
const SMALL_FILE_BYTES = 1024 * 1024;

// Not every platform has O_NOFOLLOW (Windows); there, the walk's lstat is all we have.
const READ_FLAGS = fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0);

export async function* tarStream(entries: readonly PackEntry[]): AsyncGenerator<Buffer> {
  for (const e of entries) {
    yield* headerBlocks(e);
    if (e.type === 'file' && e.size > 0) {
      yield* fileBody(e);
      const padding = (BLOCK - (e.size % BLOCK)) % BLOCK;
      if (padding > 0) yield Buffer.alloc(padding);
    }
  }
  yield Buffer.alloc(2 * BLOCK); // end-of-archive marker
}

function headerBlocks(e: PackEntry): Buffer[] {
  const path = e.type === 'directory' ? `${e.path}/` : e.path;
  const header = new Header({
    path,
    mode: modeOf(e),
    uid: 0,
    gid: 0,
    uname: '',
    gname: '',
    size: e.type === 'file' ? e.size : 0,
    mtime: FIXED_MTIME,
    type: e.type === 'file' ? 'File' : e.type === 'directory' ? 'Directory' : 'SymbolicLink',
    linkpath: e.linkpath ?? '',
  });
  const needsPax = header.encode();
  if (!header.block) throw new SlipwayError('E_INTERNAL', `could not encode a tar header for "${e.path}"`);
  if (!needsPax) return [header.block];
  // Long or non-ASCII names go in a pax record before the header; its fields are
  // limited to the same fixed ones, so it is as deterministic as the header.
  const pax = new Pax({ path, linkpath: e.linkpath, size: header.size, mtime: FIXED_MTIME });
  return [pax.encode(), header.block];
}

function modeOf(e: PackEntry): number {
  if (e.type === 'symlink') return 0o777;
  if (e.type === 'directory' || e.isExecutable) return 0o755;
  return 0o644;
}

async function* fileBody(e: PackEntry): AsyncGenerator<Buffer> {
  // Read one byte past the expected end, so a file that grew since the walk is
  // caught rather than silently cut to its old size.
  const hash = e.sha256 !== undefined ? createHash('sha256') : null;
  let read = 0;
  try {
    if (e.size <= SMALL_FILE_BYTES) {
      const buf = Buffer.allocUnsafe(e.size + 1);
      const fd = openSync(e.absolutePath, READ_FLAGS);
      try {
        for (let n = -1; n !== 0 && read < buf.length; read += n) n = readSync(fd, buf, read, buf.length - read, read);
      } finally {
        closeSync(fd);
      }
      if (read === e.size) {
        hash?.update(buf.subarray(0, read));
        yield buf.subarray(0, read);
      }
    } else {
      const handle = await open(e.absolutePath, READ_FLAGS);
      // The stream owns the handle and closes it when it ends or is abandoned.
      const stream = handle.createReadStream({ start: 0, end: e.size });
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        read += chunk.length;
        if (read > e.size) break;
        hash?.update(chunk);
        yield chunk;
      }
    }
  } catch (cause) {
    throw new SlipwayError('E_ARTEFACT_INVALID', `cannot read "${e.path}": ${errorMessage(cause)}`, {
      entry: e.path,
    }, { cause });
  }
  if (read !== e.size) {
    throw new SlipwayError(
      'E_ARTEFACT_INVALID',
      `"${e.path}" changed while it was being packed; stop whatever writes to it and pack again`,
      { entry: e.path, expectedBytes: e.size },
    );
  }
  const actual = hash?.digest('hex');
  if (actual !== undefined && actual !== e.sha256) {
    throw new SlipwayError('E_ARTEFACT_TAMPERED', `the stored bytes of "${e.path}" hash to ${actual}, not ${e.sha256}`, { entry: e.path, blob: e.sha256, actual });
  }
}

/**
 * zlib already writes mtime 0 in the gzip header, but the OS byte comes from how
 * zlib was compiled (3 on Unix builds, 10 on Windows ones). Pin both so the
 * container bytes do not depend on the machine that packed them.
 */
export class GzipHeaderPinner extends Transform {
  #offset = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.#offset < 10) {
      const out = Buffer.from(chunk);
      for (let i = 0; i < out.length && this.#offset + i < 10; i++) {
        const at = this.#offset + i;
        if (at >= 4 && at <= 7) out[i] = 0; // MTIME
        if (at === 9) out[i] = 255; // OS: unknown
      }
      this.#offset += chunk.length;
      done(null, out);
      return;
    }
    this.#offset += chunk.length;
    done(null, chunk);
  }
}
