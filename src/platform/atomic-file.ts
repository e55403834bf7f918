// Replacing a whole file so that a reader, or this process after kill -9 or a power
// cut, finds either the old content or the new one, never half of it: a temp file in
// the same directory (a rename across file systems is not atomic), written, fsynced,
// renamed over the target, then the directory fsynced (the rename lives in the
// directory entry; without that a crash can lose it). A temp file is never left
// behind by a write that failed.
//
// platform/ holds node-level helpers every layer but core may use; it imports nothing
// of slipway's.

import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface AtomicWriteOptions {
  /**
   * The file's permission bits, exactly (the umask does not narrow them), set before
   * any byte is written, so a 0600 file is never readable by others. Default: the
   * mode of the file replaced, else what a new file gets (0666 less the umask).
   */
  mode?: number;
}

/** A name beside `path` that no other writer, in this process or another, picks. */
function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

async function modeOf(path: string, opts: AtomicWriteOptions): Promise<number | undefined> {
  if (opts.mode !== undefined) return opts.mode;
  return stat(path).then((s) => s.mode & 0o7777, () => undefined);
}

function modeOfSync(path: string, opts: AtomicWriteOptions): number | undefined {
  if (opts.mode !== undefined) return opts.mode;
  try {
    return statSync(path).mode & 0o7777;
  } catch {
    return undefined;
  }
}

/** Replaces `path` with `data`, atomically and durably. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  await replaceFileAtomic(path, async (tmp, mode) => {
    const fh = await open(tmp, 'wx', mode ?? 0o666);
    try {
      if (mode !== undefined) await fh.chmod(mode);
      await fh.writeFile(data);
    } finally {
      await fh.close();
    }
  }, opts);
}

/**
 * Replaces `path` with what `write` puts in the temp path it is given (a stream
 * piped there, a bundler's output file), atomically and durably. When `write`
 * throws, the temp file is removed and `path` is untouched. `mode` is what the
 * temp file should be created with (see AtomicWriteOptions), and is set on it
 * again before the rename whatever `write` did.
 */
export async function replaceFileAtomic(
  path: string,
  write: (tmpPath: string, mode: number | undefined) => Promise<void>,
  opts: AtomicWriteOptions = {},
): Promise<void> {
  const tmp = tempPathFor(path);
  const mode = await modeOf(path, opts);
  try {
    await write(tmp, mode);
    const fh = await open(tmp, 'r+');
    try {
      if (mode !== undefined) await fh.chmod(mode);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await syncDir(dirname(path));
}

/** writeFileAtomic for the few callers that must not yield (a start-up step, a sync API). */
export function writeFileAtomicSync(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): void {
  const tmp = tempPathFor(path);
  const mode = modeOfSync(path, opts);
  try {
    const fd = openSync(tmp, 'wx', mode ?? 0o666);
    try {
      if (mode !== undefined) fchmodSync(fd, mode);
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  syncDirSync(dirname(path));
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the rename is still atomic.
  } finally {
    await fh.close();
  }
}

function syncDirSync(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } catch {
    // As in syncDir.
  } finally {
    closeSync(fd);
  }
}
