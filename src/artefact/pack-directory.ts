// Packs a service directory into a content-addressed .tar.gz: the artefact the CLI
// uploads. Same content gives the same bytes, hence the same digest, so "did
// anything change?" is a string comparison and a rebuild is never a new release.

import { createHash, type Hash } from 'node:crypto';
import { createWriteStream, lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants as zlibConstants, createGzip } from 'node:zlib';
import { SlipwayError, errorMessage } from '../core/errors.ts';
import { replaceFileAtomic } from '../platform/atomic-file.ts';
import { DigestTap } from './digest.ts';
import { GzipHeaderPinner, tarStream, type PackEntry } from './deterministic-tar.ts';
import { IGNORE_FILE_NAME, parseIgnoreRules, type IgnoreRules } from './ignore-rules.ts';
import { assertSafeTree } from './tree-safety.ts';

export const DEFAULT_MAX_ARTEFACT_BYTES = 512 * 1024 * 1024;

export interface PackDirectoryOptions {
  dir: string;
  /** Where to write the .tar.gz; default: a new temporary directory. Written atomically. */
  outFile?: string;
  /** Refuse a tree whose files add up to more than this; default 512 MiB. */
  maxBytes?: number;
}

export interface PackedArtefact {
  file: string;
  /** 'sha256:<hex>' of the .tar.gz bytes. */
  digest: string;
  /** Size of the .tar.gz. */
  bytes: number;
  /** Regular files and symlinks packed (directories not counted). */
  fileCount: number;
}

// Every parameter pinned: zlib's defaults are the same today, but the digest must
// not change if they ever do.
const GZIP_OPTIONS = {
  level: 6,
  memLevel: 8,
  windowBits: 15,
  strategy: zlibConstants.Z_DEFAULT_STRATEGY,
};

/**
 * Bump when the packed bytes of a tree change for a reason no file's stat shows (the
 * tar layout, the gzip settings): a fingerprint made before no longer matches.
 */
const PACK_FORMAT = 'slipway-pack-1';

/** A directory walked, checked and ready to pack: its entries, and a fingerprint of what the walk saw. */
export interface ScannedTree {
  root: string;
  entries: PackEntry[];
  /** Regular files and symlinks (directories not counted). */
  fileCount: number;
  /**
   * sha256 over every entry's path, type, mode, size, link target, device, inode,
   * mtime and ctime, the ignore rules and the pack format. Equal fingerprints mean
   * an equal tree, as far as a file's stat can tell: a write changes its ctime,
   * which no user can set back. pack-cache.ts maps it to the digest of its pack.
   */
  fingerprint: string;
  /** The latest mtime or ctime seen (ms): a change within a file system's timestamp granularity of now may not show yet. */
  newestChangeMs: number;
}

/** Walks and checks the tree (ignore rules, size limit, no unsafe entry) without reading any file's content. */
export async function scanDirectory(options: PackDirectoryOptions): Promise<ScannedTree> {
  const root = resolve(options.dir);
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_ARTEFACT_BYTES;
  await assertIsDirectory(root);
  const rules = await loadIgnoreRules(root);
  const skip = options.outFile ? ownOutput(root, resolve(options.outFile)) : () => false;
  const hash = createHash('sha256').update(`${PACK_FORMAT}\0${JSON.stringify(GZIP_OPTIONS)}\0${JSON.stringify(rules.patterns)}\n`);
  const walk: WalkState = { root, rules, maxBytes, totalBytes: 0, skip, entries: [], hash, newestChangeMs: 0, walked: 0 };
  await walkDirectory(walk, root, '');
  const fileCount = walk.entries.filter((e) => e.type !== 'directory').length;
  if (fileCount === 0) {
    throw new SlipwayError(
      'E_ARTEFACT_INVALID',
      `nothing to pack: "${root}" has no files (after ${IGNORE_FILE_NAME}, .git and .slipway are left out)`,
      { dir: root },
    );
  }
  // The server would refuse an unsafe tree; refusing it here says so before the upload.
  await assertSafeTree(walk.entries);
  return { root, entries: walk.entries, fileCount, fingerprint: `sha256:${hash.digest('hex')}`, newestChangeMs: walk.newestChangeMs };
}

export async function packDirectory(options: PackDirectoryOptions): Promise<PackedArtefact> {
  const outFile = resolve(options.outFile ?? join(await mkdtemp(join(tmpdir(), 'slipway-pack-')), 'artefact.tar.gz'));
  return packScanned(await scanDirectory({ ...options, outFile }), outFile);
}

/** Packs a scanned tree into `outFile` (written atomically): reads every file, compresses, hashes. */
export async function packScanned(tree: ScannedTree, outFile: string): Promise<PackedArtefact> {
  await mkdir(dirname(outFile), { recursive: true });
  const tap = new DigestTap();
  await replaceFileAtomic(outFile, (partial) => pipeline(
    Readable.from(tarStream(tree.entries)),
    createGzip(GZIP_OPTIONS),
    new GzipHeaderPinner(),
    tap,
    createWriteStream(partial, { flags: 'wx' }),
  ));
  return { file: outFile, digest: tap.digest(), bytes: tap.bytes, fileCount: tree.fileCount };
}

interface WalkState {
  root: string;
  rules: IgnoreRules;
  maxBytes: number;
  totalBytes: number;
  /** Skips the artefact itself when it is written inside the directory being packed. */
  skip: (relPath: string) => boolean;
  entries: PackEntry[];
  /** The fingerprint being made: one line per entry, in walk order. */
  hash: Hash;
  newestChangeMs: number;
  /** Entries walked so far, for the turns given back to the event loop. */
  walked: number;
}

/** The server walks a tree too (a pipeline build): it never holds its event loop longer than this many lstats. */
const WALK_ENTRIES_PER_TURN = 1000;

async function walkDirectory(walk: WalkState, absDir: string, relDir: string): Promise<void> {
  // Sync calls, with a turn of the event loop every WALK_ENTRIES_PER_TURN entries: an
  // awaited lstat per entry costs a thread-pool round trip each, five times the
  // walk's time (30,000 entries: 1.1 s against 0.23 s, measured on a busy machine),
  // and this walk is all a no-change deploy reads.
  const names = wrapReadSync(relDir || '.', () => readdirSync(absDir)).sort(compareCodeUnits);
  for (const name of names) {
    const path = relDir === '' ? name : `${relDir}/${name}`;
    const absolutePath = join(absDir, name);
    if (++walk.walked % WALK_ENTRIES_PER_TURN === 0) await new Promise((r) => setImmediate(r));
    const stats: Stats = wrapReadSync(path, () => lstatSync(absolutePath));
    if (walk.skip(path) || walk.rules.isIgnored(path, stats.isDirectory())) continue;
    walk.hash.update(`\n${path}\0${stats.mode}\0${stats.size}\0${stats.dev}:${stats.ino}\0${stats.mtimeMs}\0${stats.ctimeMs}\0`);
    walk.newestChangeMs = Math.max(walk.newestChangeMs, stats.mtimeMs, stats.ctimeMs);

    if (stats.isDirectory()) {
      walk.entries.push({ path, absolutePath, type: 'directory', isExecutable: true, size: 0 });
      await walkDirectory(walk, absolutePath, path);
    } else if (stats.isFile()) {
      walk.totalBytes += stats.size;
      if (walk.totalBytes > walk.maxBytes) throw tooBig(walk);
      const isExecutable = (stats.mode & 0o111) !== 0;
      walk.entries.push({ path, absolutePath, type: 'file', isExecutable, size: stats.size, seen: { mtimeMs: stats.mtimeMs, ctimeMs: stats.ctimeMs, ino: stats.ino } });
    } else if (stats.isSymbolicLink()) {
      const linkpath = wrapReadSync(path, () => readlinkSync(absolutePath));
      walk.hash.update(linkpath);
      walk.entries.push({ path, absolutePath, type: 'symlink', isExecutable: false, size: 0, linkpath });
    } else {
      throw new SlipwayError(
        'E_ARTEFACT_INVALID',
        `"${path}" is a socket, FIFO or device, which cannot go in an artefact; add it to ${IGNORE_FILE_NAME}`,
        { entry: path },
      );
    }
  }
}

// Locale-independent, so two machines sort the same names the same way.
function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function tooBig(walk: WalkState): SlipwayError {
  const mib = (n: number) => Math.ceil(n / (1024 * 1024));
  return new SlipwayError(
    'E_ARTEFACT_INVALID',
    `"${walk.root}" holds more than ${mib(walk.maxBytes)} MiB of files, the artefact limit; ` +
      `leave dependencies and build output out with ${IGNORE_FILE_NAME}, or raise the limit`,
    { dir: walk.root, maxBytes: walk.maxBytes },
  );
}

function ownOutput(root: string, outFile: string): (relPath: string) => boolean {
  const rel = relative(root, outFile);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return () => false;
  const relPosix = rel.split(sep).join('/');
  return (p) => p === relPosix || p.startsWith(`${relPosix}.partial-`);
}

async function assertIsDirectory(root: string): Promise<void> {
  const stats = await lstat(root).catch((cause: unknown) => {
    throw new SlipwayError('E_ARTEFACT_INVALID', `cannot pack "${root}": ${errorMessage(cause)}`, { dir: root }, { cause });
  });
  if (!stats.isDirectory()) {
    throw new SlipwayError('E_ARTEFACT_INVALID', `cannot pack "${root}": it is not a directory`, { dir: root });
  }
}

async function loadIgnoreRules(root: string): Promise<IgnoreRules> {
  let text = '';
  try {
    text = await readFile(join(root, IGNORE_FILE_NAME), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  return parseIgnoreRules(text);
}

function wrapReadSync<T>(path: string, read: () => T): T {
  try {
    return read();
  } catch (cause) {
    throw new SlipwayError('E_ARTEFACT_INVALID', `cannot read "${path}": ${errorMessage(cause)}`, { entry: path }, { cause });
  }
}
