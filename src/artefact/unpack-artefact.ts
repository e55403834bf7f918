// Unpacks an uploaded artefact into a release directory, refusing anything that
// could write or point outside it. The order is the safety argument:
//   1. hash the file and compare with the digest the caller expects;
//   2. read every header and judge the whole tree (scan-artefact.ts), writing nothing;
//   3. extract into a hidden staging directory beside the target, letting through
//      only entries identical to the ones judged in step 2 and re-hashing the bytes
//      as they are read, so a file swapped between steps is caught;
//   4. rename the staging directory to the target: the release appears whole or
//      not at all, even if the process dies half-way.

import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Unpack, type ReadEntry } from 'tar';
import { SlipwayError, errorMessage, isSlipwayError } from '../core/errors.ts';
import { artefactLimitsFrom, type ArtefactLimits } from './artefact-limits.ts';
import { isDigest, sha256File } from './digest.ts';
import { describeEntry, notAnArtefact, scanArtefact, type ScannedEntry } from './scan-artefact.ts';
import { feedTar, openTarSource } from './tar-source.ts';

export interface UnpackArtefactOptions {
  file: string;
  /** Created by the unpack; if it exists it must be an empty directory. */
  targetDir: string;
  /** 'sha256:<hex>'; when given, a file with any other digest is refused. */
  expectedDigest?: string;
  /** Refuse an artefact whose files add up to more than this; default 512 MiB. */
  maxBytes?: number;
  /** Entries and inflated bytes; default: DEFAULT_ARTEFACT_LIMITS with the server's SLIPWAY_MAX_* overrides. */
  limits?: Partial<Pick<ArtefactLimits, 'maxEntries' | 'maxDecompressedBytes'>>;
  /**
   * 'unpacked': files carry the time they were written, not the archive's fixed
   * 1980 (deterministic-tar.ts). A release tree needs it: static-file servers derive
   * Last-Modified and ETags from mtime and size, so with one fixed time every
   * release looks unmodified to a browser's If-Modified-Since, and a same-size edit
   * keeps its ETag (express.static answered 304 with the old page). Default 'archive'.
   */
  fileTimes?: 'archive' | 'unpacked';
}

export interface UnpackedArtefact {
  dir: string;
  digest: string;
  /** Regular files, symlinks and hardlinks written. */
  fileCount: number;
  /** Sum of the regular files' sizes. */
  bytes: number;
}

/** Prefix of staging directories; a leftover one (after a crash) is safe to delete. */
export const STAGING_MARKER = '.unpacking-';

export async function unpackArtefact(options: UnpackArtefactOptions): Promise<UnpackedArtefact> {
  const file = resolve(options.file);
  const target = resolve(options.targetDir);
  await assertTargetAvailable(target);

  if (options.expectedDigest !== undefined) await verifyDigest(file, options.expectedDigest);
  const limits = { ...artefactLimitsFrom(process.env), ...options.limits };
  if (options.maxBytes !== undefined) limits.maxFileBytes = options.maxBytes;
  const scan = await scanArtefact(file, limits);
  if (options.expectedDigest !== undefined && scan.digest !== options.expectedDigest) {
    throw tampered(file, options.expectedDigest, scan.digest);
  }

  await mkdir(dirname(target), { recursive: true });
  const staging = join(dirname(target), `.${basename(target)}${STAGING_MARKER}${randomBytes(6).toString('hex')}`);
  await mkdir(staging, { mode: 0o755 });
  try {
    const extractedDigest = await extractInto(file, staging, { judged: scan.entries, maxDecompressedBytes: limits.maxDecompressedBytes, noMtime: options.fileTimes === 'unpacked' });
    if (extractedDigest !== scan.digest) throw tampered(file, scan.digest, extractedDigest);
    await moveIntoPlace(staging, target);
  } catch (e) {
    await rm(staging, { recursive: true, force: true });
    throw e;
  }
  return { dir: target, digest: scan.digest, fileCount: scan.fileCount, bytes: scan.bytes };
}

async function verifyDigest(file: string, expected: string): Promise<void> {
  if (!isDigest(expected)) {
    throw new SlipwayError('E_BAD_REQUEST', `"${expected}" is not a digest; expected 'sha256:' and 64 lower-case hex digits`, {
      expectedDigest: expected,
    });
  }
  const actual = await sha256File(file).catch((cause: unknown) => {
    throw notAnArtefact(file, cause);
  });
  if (actual !== expected) throw tampered(file, expected, actual);
}

function tampered(file: string, expected: string, actual: string): SlipwayError {
  return new SlipwayError(
    'E_ARTEFACT_TAMPERED',
    `artefact "${file}" has digest ${actual}, not ${expected}; it was altered or is the wrong file: upload it again`,
    { file, expected, actual },
  );
}

async function assertTargetAvailable(target: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(target);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new SlipwayError('E_BAD_REQUEST', `cannot unpack into "${target}": ${errorMessage(e)}`, { targetDir: target }, {
      cause: e,
    });
  }
  if (names.length > 0) {
    throw new SlipwayError('E_BAD_REQUEST', `cannot unpack into "${target}": it is not empty; pick a new release directory`, {
      targetDir: target,
    });
  }
}

/**
 * Extracts with node-tar, admitting entry N only if it is the entry N the scan
 * judged safe. Returns the digest of the bytes actually read.
 */
function extractInto(file: string, staging: string, o: { judged: readonly ScannedEntry[]; maxDecompressedBytes: number; noMtime: boolean }): Promise<string> {
  const { judged } = o;
  return new Promise((resolvePromise, reject) => {
    let index = 0;
    let mismatch: SlipwayError | undefined;
    const admit = (_path: string, entry: unknown): boolean => {
      const expected = judged[index++];
      let actual: ScannedEntry | undefined;
      try {
        actual = describeEntry(entry as ReadEntry);
      } catch (e) {
        mismatch ??= isSlipwayError(e) ? e : notAnArtefact(file, e);
        return false;
      }
      if (!expected || !isSameEntry(expected, actual)) {
        mismatch ??= new SlipwayError('E_ARTEFACT_TAMPERED', `artefact "${file}" changed while it was being unpacked`, {
          file,
          entry: actual.path,
        });
        return false;
      }
      return actual.path !== ''; // the root is the staging directory itself
    };
    const unpack = new Unpack({ cwd: staging, strict: true, preserveOwner: false, zstd: false, filter: admit, noMtime: o.noMtime });
    let failed = false;
    const fail = (e: unknown) => {
      if (failed) return;
      failed = true;
      source.destroy();
      unpack.abort(e instanceof Error ? e : new Error(String(e)));
      reject(isSlipwayError(e) ? e : notAnArtefact(file, e));
    };
    // The file may have been swapped since the scan: the same caps apply again.
    const source = openTarSource(file, { maxDecompressedBytes: o.maxDecompressedBytes, onError: fail });
    unpack.on('error', fail);
    unpack.on('close', () => {
      if (failed) return;
      if (mismatch) reject(mismatch);
      else resolvePromise(source.digest());
    });
    feedTar(source.tar, unpack);
  });
}

function isSameEntry(a: ScannedEntry, b: ScannedEntry): boolean {
  return a.path === b.path && a.type === b.type && a.linkpath === b.linkpath && a.mode === b.mode && a.size === b.size;
}

async function moveIntoPlace(staging: string, target: string): Promise<void> {
  try {
    // An empty target directory was allowed; rename() over a directory is not
    // portable, so remove it first. rmdir refuses if something appeared meanwhile.
    await rmdir(target).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
    await rename(staging, target);
  } catch (e) {
    throw new SlipwayError('E_BAD_REQUEST', `cannot move the unpacked release to "${target}": ${errorMessage(e)}`, {
      targetDir: target,
    }, { cause: e });
  }
}
