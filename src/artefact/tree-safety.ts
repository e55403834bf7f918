// The one definition of "safe" for the paths inside an artefact, shared by the
// packer (so we never build an artefact the server would refuse) and the unpacker
// (which must assume the artefact was built by someone hostile).
//
// Everything here is string work on '/'-separated archive paths: the release
// directory starts empty, so the only things a path can meet on the way down are
// other entries of the same artefact. That is what lets a symlink chain be judged
// without touching the disk.

import { SlipwayError } from '../core/errors.ts';

export type TreeEntryType = 'file' | 'directory' | 'symlink' | 'hardlink';

export interface TreeEntry {
  /** Normalised by `normaliseEntryPath`. */
  path: string;
  type: TreeEntryType;
  /** symlink: as stored (relative to the link's directory); hardlink: an archive path. */
  linkpath?: string;
}

// Same bound as the kernel's ELOOP: a longer chain is a loop or an attack.
const MAX_SYMLINK_HOPS = 40;

function unsafe(path: string, why: string, details: Record<string, unknown> = {}): SlipwayError {
  return new SlipwayError('E_UNSAFE_PATH', `refusing "${path}": ${why}`, { entry: path, ...details });
}

function isAbsoluteLike(p: string): boolean {
  // Windows drive and UNC forms too: an artefact may be unpacked on any platform.
  return p.startsWith('/') || p.startsWith('\\') || /^[a-zA-Z]:/.test(p);
}

/**
 * Returns the canonical form of an archive path ('' for the root itself): no
 * leading './', no trailing '/', no empty segments. Throws E_UNSAFE_PATH for an
 * absolute path, any '..' segment (even one that would stay inside: we never
 * produce them, so one is a sign of a crafted archive), a backslash (a separator on
 * Windows) or a NUL.
 */
export function normaliseEntryPath(raw: string): string {
  if (raw.includes('\0')) throw unsafe(raw, 'the path contains a NUL byte');
  if (isAbsoluteLike(raw)) throw unsafe(raw, 'the path is absolute');
  if (raw.includes('\\')) throw unsafe(raw, 'the path contains a backslash');
  const segments = raw.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) throw unsafe(raw, "the path contains a '..' segment");
  return segments.join('/');
}

/**
 * Throws unless every entry stays inside the tree: no entry is reached through a
 * symlink, every symlink (followed through the other symlinks of the tree) resolves
 * inside it, and every hardlink points at a regular file stored earlier.
 */
export function assertSafeTree(entries: readonly TreeEntry[]): void {
  const symlinks = new Map<string, string>();
  const seen = new Set<string>();
  for (const e of entries) {
    if (seen.has(e.path)) {
      throw new SlipwayError('E_ARTEFACT_INVALID', `the artefact stores "${e.path}" twice`, {
        entry: e.path,
      });
    }
    seen.add(e.path);
    if (e.type === 'symlink') symlinks.set(e.path, e.linkpath ?? '');
  }

  const files = new Set<string>();
  for (const e of entries) {
    assertNotThroughSymlink(e.path, symlinks);
    if (e.type === 'symlink') assertSymlinkInside(e, symlinks);
    if (e.type === 'hardlink') assertHardlinkInside(e, files);
    if (e.type === 'file') files.add(e.path);
  }
}

function assertNotThroughSymlink(path: string, symlinks: ReadonlyMap<string, string>): void {
  const segments = path.split('/');
  for (let i = 1; i < segments.length; i++) {
    const prefix = segments.slice(0, i).join('/');
    if (symlinks.has(prefix)) {
      throw unsafe(path, `it would be written through the symlink "${prefix}"`, { symlink: prefix });
    }
  }
}

function assertSymlinkInside(e: TreeEntry, symlinks: ReadonlyMap<string, string>): void {
  const target = e.linkpath ?? '';
  if (target === '') throw unsafe(e.path, 'the symlink has an empty target');
  if (isAbsoluteLike(target)) {
    throw unsafe(e.path, `the symlink points at the absolute path "${target}"; use a relative link`, {
      linkpath: target,
    });
  }
  if (target.includes('\\') || target.includes('\0')) {
    throw unsafe(e.path, 'the symlink target contains a backslash or NUL', { linkpath: target });
  }
  const fromDir = e.path.split('/').slice(0, -1);
  if (!resolvesInside(fromDir, target, symlinks)) {
    throw unsafe(e.path, `the symlink target "${target}" leads outside the artefact (or loops)`, {
      linkpath: target,
    });
  }
}

function assertHardlinkInside(e: TreeEntry, files: ReadonlySet<string>): void {
  const raw = e.linkpath ?? '';
  let target: string;
  try {
    target = normaliseEntryPath(raw);
  } catch (cause) {
    throw unsafe(e.path, `the hardlink target "${raw}" is not a safe path`, { linkpath: raw, cause });
  }
  // Only to a file already extracted: anything else would make link(2) reach for a
  // path we have not checked, perhaps through a directory that is not ours.
  if (!files.has(target)) {
    throw unsafe(e.path, `the hardlink target "${raw}" is not a regular file stored before it`, {
      linkpath: raw,
    });
  }
}

/**
 * Walks `target` from the directory `fromDir` the way the kernel would, but over
 * the archive's own symlinks, and says whether it ever climbs above the root.
 */
function resolvesInside(
  fromDir: readonly string[],
  target: string,
  symlinks: ReadonlyMap<string, string>,
): boolean {
  const stack = [...fromDir];
  const pending = target.split('/');
  let hops = 0;
  while (pending.length > 0) {
    const segment = pending.shift() as string;
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (stack.length === 0) return false;
      stack.pop();
      continue;
    }
    stack.push(segment);
    const next = symlinks.get(stack.join('/'));
    if (next === undefined) continue;
    hops += 1;
    if (hops > MAX_SYMLINK_HOPS || isAbsoluteLike(next)) return false;
    stack.pop();
    pending.unshift(...next.split('/'));
  }
  return true;
}
