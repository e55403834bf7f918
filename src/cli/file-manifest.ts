// The manifest of a service tree: each entry's path, mode, size and sha256, in the
// order the packer walks it, which is what the server needs to assemble the very
// artefact `packDirectory` would have made (engine/blob-artefacts.ts).
//
// Hashing 100 MB takes a few hundred milliseconds, so the sha256 of each file is
// kept in the service's .slipway/file-hashes.json with the file's size, mtime,
// ctime and inode: a file whose stat is unchanged is not read again. A write
// changes the ctime, which no user can set back; a file changed within the slack of
// coarse timestamps is not remembered (as in artefact/pack-cache.ts).

import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ScannedTree } from '../artefact/index.ts';
import { SlipwayError, errorMessage } from '../core/errors.ts';
import type { ManifestEntryBody as ManifestEntry } from '../api/blob-schemas.ts';
import { writeFileAtomicSync } from '../platform/atomic-file.ts';
import { keepOutOfGit } from '../platform/keep-out-of-git.ts';

export const FILE_HASHES_FILE = join('.slipway', 'file-hashes.json');
const FORMAT = 'slipway-file-hashes-1';
const TIMESTAMP_SLACK_MS = 2000;
const HASH_WORKERS = 4;

/** path → [size, mtimeMs, ctimeMs, ino, sha256 hex] */
type Remembered = Record<string, [number, number, number, number, string]>;

export interface FileManifest {
  entries: ManifestEntry[];
  /** Where each blob's bytes are on this machine (the first file with them). */
  sources: Map<string, { absolutePath: string; path: string; size: number }>;
  /** Files read to hash them now (the rest came from the cache). */
  hashedFiles: number;
  hashedBytes: number;
}

export async function buildFileManifest(tree: ScannedTree, nowMs: number = Date.now()): Promise<FileManifest> {
  const remembered = readRemembered(tree.root);
  const next: Remembered = {};
  const entries: ManifestEntry[] = [];
  const toHash: { index: number; absolutePath: string; path: string; size: number; key: [number, number, number, number] }[] = [];
  for (const e of tree.entries) {
    if (e.type === 'directory') entries.push({ type: 'directory', path: e.path });
    else if (e.type === 'symlink') entries.push({ type: 'symlink', path: e.path, target: e.linkpath ?? '' });
    else {
      // The walk's own stat when it has one: a second lstat of every file costs as much as the walk.
      const st = e.seen ? { size: e.size, ...e.seen } : await lstat(e.absolutePath).catch((cause: unknown) => {
        throw new SlipwayError('E_ARTEFACT_INVALID', `cannot read "${e.path}": ${errorMessage(cause)}`, { entry: e.path }, { cause });
      });
      const key: [number, number, number, number] = [st.size, st.mtimeMs, st.ctimeMs, st.ino];
      const known = remembered[e.path];
      const mode = e.isExecutable ? 0o755 : 0o644;
      if (known && known.slice(0, 4).every((v, i) => v === key[i]) && /^[0-9a-f]{64}$/.test(known[4])) {
        entries.push({ type: 'file', path: e.path, mode, size: st.size, sha256: known[4] });
        next[e.path] = known;
      } else {
        if (st.size !== e.size) throw changedWhileRead(e.path);
        toHash.push({ index: entries.length, absolutePath: e.absolutePath, path: e.path, size: st.size, key });
        entries.push({ type: 'file', path: e.path, mode, size: st.size, sha256: '' });
      }
    }
  }
  let hashedBytes = 0;
  const queue = [...toHash];
  const worker = async () => {
    for (let f = queue.shift(); f; f = queue.shift()) {
      const hex = await hashFile(f.absolutePath, f.path, f.size);
      (entries[f.index] as { sha256: string }).sha256 = hex;
      hashedBytes += f.size;
      if (Math.max(f.key[1], f.key[2]) <= nowMs - TIMESTAMP_SLACK_MS) next[f.path] = [...f.key, hex];
    }
  };
  await Promise.all(Array.from({ length: HASH_WORKERS }, worker));
  if (toHash.length > 0 || Object.keys(next).length !== Object.keys(remembered).length) remember(tree.root, next);
  const sources = new Map<string, { absolutePath: string; path: string; size: number }>();
  tree.entries.forEach((e, i) => {
    const m = entries[i]!;
    if (m.type === 'file' && !sources.has(m.sha256)) sources.set(m.sha256, { absolutePath: e.absolutePath, path: e.path, size: m.size });
  });
  return { entries, sources, hashedFiles: toHash.length, hashedBytes };
}

async function hashFile(absolutePath: string, path: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  let read = 0;
  try {
    for await (const chunk of createReadStream(absolutePath) as AsyncIterable<Buffer>) {
      read += chunk.length;
      hash.update(chunk);
    }
  } catch (cause) {
    throw new SlipwayError('E_ARTEFACT_INVALID', `cannot read "${path}": ${errorMessage(cause)}`, { entry: path }, { cause });
  }
  if (read !== size) throw changedWhileRead(path);
  return hash.digest('hex');
}

function changedWhileRead(path: string): SlipwayError {
  return new SlipwayError('E_ARTEFACT_INVALID', `"${path}" changed while it was being read for the deploy; stop whatever writes to it and deploy again`, { entry: path });
}

function readRemembered(root: string): Remembered {
  try {
    const c = JSON.parse(readFileSync(join(root, FILE_HASHES_FILE), 'utf8')) as { format?: string; files?: Remembered };
    return c.format === FORMAT && c.files && typeof c.files === 'object' ? c.files : {};
  } catch {
    return {};
  }
}

/** Best effort: a directory the CLI cannot write to only means the next deploy hashes again. */
function remember(root: string, files: Remembered): void {
  try {
    mkdirSync(join(root, '.slipway'), { recursive: true, mode: 0o700 });
    keepOutOfGit(join(root, '.slipway'));
    writeFileAtomicSync(join(root, FILE_HASHES_FILE), `${JSON.stringify({ format: FORMAT, files })}\n`);
  } catch {
    // next time
  }
}
