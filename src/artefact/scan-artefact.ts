// Reads an artefact's headers without writing anything: the checking half of
// unpacking. Every entry is judged here, before a single byte reaches the disk;
// node-tar's own defences (it silently strips '/' and skips '..') are a second
// line, not the first, because a stripped path is still a crafted archive and
// deserves a refusal the operator can see.

import { Parser, type ReadEntry } from 'tar';
import { SlipwayError, errorMessage, isSlipwayError } from '../core/errors.ts';
import { overLimit, type ArtefactLimits } from './artefact-limits.ts';
import { feedTar, openTarSource } from './tar-source.ts';
import { assertSafeTree, normaliseEntryPath, type TreeEntry } from './tree-safety.ts';

/** One entry as stored, in archive order, for the extraction pass to compare against. */
export interface ScannedEntry {
  /** Normalised; '' for the archive root ('./'), which is skipped. */
  path: string;
  type: TreeEntry['type'];
  linkpath: string | undefined;
  mode: number | undefined;
  size: number;
}

export interface ArtefactScan {
  digest: string;
  entries: ScannedEntry[];
  fileCount: number;
  /** Sum of the regular files' sizes: what unpacking will write. */
  bytes: number;
}

const SPECIAL_BITS = 0o7000; // setuid, setgid, sticky

export type ScanLimits = Pick<ArtefactLimits, 'maxFileBytes' | 'maxEntries' | 'maxDecompressedBytes'>;

/**
 * Hashes the artefact and checks every entry: path shape, type, mode, and (once
 * all are known) that no link leads outside; and, while reading, the limits on
 * entries, file bytes and inflated bytes. Throws E_UNSAFE_PATH or
 * E_ARTEFACT_INVALID naming the first offending entry or the limit passed.
 */
export async function scanArtefact(file: string, limits: ScanLimits): Promise<ArtefactScan> {
  const entries: ScannedEntry[] = [];
  let bytes = 0;
  const digest = await parseArtefact(file, limits.maxDecompressedBytes, (entry) => {
    if (entries.length >= limits.maxEntries) {
      throw overLimit({ what: `the artefact has more than ${limits.maxEntries} entries`, limit: 'maxEntries', value: limits.maxEntries, details: { entry: entry.path.slice(0, 200) } });
    }
    const scanned = describeEntry(entry);
    bytes += scanned.type === 'file' ? scanned.size : 0;
    if (bytes > limits.maxFileBytes) {
      throw overLimit({ what: 'the artefact\'s files add up to more bytes than allowed', limit: 'maxFileBytes', value: limits.maxFileBytes, details: { entry: scanned.path.slice(0, 200) } });
    }
    entries.push(scanned);
  });
  const tree = entries.filter((e) => e.path !== '').map(toTreeEntry);
  const fileCount = tree.filter((e) => e.type !== 'directory').length;
  if (fileCount === 0) {
    throw new SlipwayError('E_ARTEFACT_INVALID', 'the artefact holds no files', { file });
  }
  await assertSafeTree(tree);
  return { digest, entries, fileCount, bytes };
}

/** Refuses what the packer never writes; returns the entry in our terms. */
export function describeEntry(entry: ReadEntry): ScannedEntry {
  const raw = entry.path;
  const path = normaliseEntryPath(raw);
  const type = entryType(entry);
  if (path === '' && type !== 'directory') {
    throw new SlipwayError('E_ARTEFACT_INVALID', `the artefact has a ${entry.type} entry with an empty path`);
  }
  if (typeof entry.mode === 'number' && (entry.mode & SPECIAL_BITS) !== 0) {
    throw new SlipwayError('E_UNSAFE_PATH', `refusing "${raw}": it has the setuid, setgid or sticky bit`, {
      entry: raw,
      mode: entry.mode.toString(8),
    });
  }
  return { path, type, linkpath: entry.linkpath, mode: entry.mode, size: entry.size };
}

function entryType(entry: ReadEntry): TreeEntry['type'] {
  switch (entry.type) {
    case 'File':
    case 'OldFile':
    case 'ContiguousFile':
      return 'file';
    case 'Directory':
      return 'directory';
    case 'SymbolicLink':
      return 'symlink';
    case 'Link':
      return 'hardlink';
    case 'CharacterDevice':
    case 'BlockDevice':
    case 'FIFO':
      throw new SlipwayError('E_UNSAFE_PATH', `refusing "${entry.path}": it is a ${entry.type}, not a file`, {
        entry: entry.path,
        type: entry.type,
      });
    default:
      throw new SlipwayError('E_ARTEFACT_INVALID', `the artefact has an unsupported ${entry.type} entry "${entry.path}"`, {
        entry: entry.path,
        type: entry.type,
      });
  }
}

function toTreeEntry(e: ScannedEntry): TreeEntry {
  return e.linkpath === undefined ? { path: e.path, type: e.type } : { path: e.path, type: e.type, linkpath: e.linkpath };
}

/**
 * Streams the file through sha256, a capped gunzip and a tar parser, calling
 * `onEntry` per entry. An exception from `onEntry` stops the read and rejects with it.
 */
function parseArtefact(file: string, maxDecompressedBytes: number, onEntry: (entry: ReadEntry) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (e: unknown) => {
      if (settled) return;
      settled = true;
      source.destroy();
      reject(isSlipwayError(e) ? e : notAnArtefact(file, e));
    };
    const source = openTarSource(file, { maxDecompressedBytes, onError: fail });
    // zstd: false, and brotli is off for a stream: the bytes are plain tar already.
    const parser = new Parser({
      strict: true,
      zstd: false,
      onReadEntry: (entry) => {
        entry.resume(); // discard the body: only headers matter here
        if (settled) return;
        try {
          onEntry(entry);
        } catch (e) {
          fail(e);
        }
      },
    });
    // Entry types node-tar does not know (or oversized metadata) it skips quietly;
    // an artefact we made never has them, so one is a sign of tampering.
    parser.on('ignoredEntry', (entry: ReadEntry) =>
      fail(new SlipwayError('E_ARTEFACT_INVALID', `the artefact has an unsupported entry "${entry.path}"`, {
        entry: entry.path,
        type: entry.type,
      })),
    );
    parser.on('error', fail);
    parser.on('end', () => {
      if (settled) return;
      settled = true;
      resolve(source.digest());
    });
    feedTar(source.tar, parser);
  });
}

export function notAnArtefact(file: string, cause: unknown): SlipwayError {
  const code = (cause as { code?: unknown } | null)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new SlipwayError('E_DISK_FULL', `the data directory's disk is full: cannot unpack "${file}"; free space and retry`, { file }, { cause });
  }
  return new SlipwayError(
    'E_ARTEFACT_INVALID',
    `"${file}" is not a readable slipway artefact (.tar.gz): ${errorMessage(cause)}`,
    { file },
    { cause },
  );
}
