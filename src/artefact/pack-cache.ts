// The digest of a tree packed before, found without packing it again. Packing reads,
// compresses and hashes every byte (about 5 s for 100 MB here); a deploy with nothing
// changed needs only the digest, to ask the server whether it has it. So the CLI
// keeps, in the service directory's .slipway/ (left out of every artefact), the
// fingerprint of the last tree it packed (scanDirectory: each entry's stat) with
// the digest that pack gave. Content-addressing stays honest: a digest comes only
// from a real pack of a tree whose every file had the same path, size, inode,
// mtime and ctime; a tree that differs in any of them is packed again.

import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../platform/atomic-file.ts';
import type { PackedArtefact, ScannedTree } from './pack-directory.ts';
import { keepOutOfGit } from '../platform/keep-out-of-git.ts';

export const PACK_CACHE_FILE = join('.slipway', 'pack-cache.json');

/**
 * A change this close to the scan may not show in a file's timestamps yet (on file
 * systems that keep whole seconds): a tree changed within it is not remembered.
 */
const TIMESTAMP_SLACK_MS = 2000;

export interface KnownDigest {
  digest: string;
  /** Size of the .tar.gz it was. */
  bytes: number;
  fileCount: number;
}

interface CacheFile {
  fingerprint: string;
  digest: string;
  bytes: number;
  fileCount: number;
}

/** The digest a full pack of this tree gave before; null when the tree is not the one last packed. */
export function knownDigest(tree: ScannedTree): KnownDigest | null {
  let c: Partial<CacheFile>;
  try {
    c = JSON.parse(readFileSync(join(tree.root, PACK_CACHE_FILE), 'utf8')) as Partial<CacheFile>;
  } catch {
    return null;
  }
  if (c.fingerprint !== tree.fingerprint || typeof c.digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(c.digest)) return null;
  return { digest: c.digest, bytes: Number(c.bytes) || 0, fileCount: Number(c.fileCount) || tree.fileCount };
}

/**
 * Remembers what packing `tree` gave. Best effort: a directory the CLI cannot
 * write to only means the next deploy packs again.
 */
export function rememberPack(tree: ScannedTree, packed: PackedArtefact, nowMs: number = Date.now()): boolean {
  if (tree.newestChangeMs > nowMs - TIMESTAMP_SLACK_MS) return false;
  try {
    mkdirSync(join(tree.root, '.slipway'), { recursive: true, mode: 0o700 });
    keepOutOfGit(join(tree.root, '.slipway'));
    const c: CacheFile = { fingerprint: tree.fingerprint, digest: packed.digest, bytes: packed.bytes, fileCount: packed.fileCount };
    writeFileAtomicSync(join(tree.root, PACK_CACHE_FILE), `${JSON.stringify(c)}\n`);
    return true;
  } catch {
    return false;
  }
}
