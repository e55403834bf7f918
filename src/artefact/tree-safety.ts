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
// The kernel's PATH_MAX: nothing longer can be written or followed anyway.
const MAX_PATH_LENGTH = 4096;
// Path segments walked while following every symlink of one tree. An honest tree
// needs a handful per link; a crafted one (thousands of links, each a 40-hop
// chain of 2,000-segment targets) would need billions.
const MAX_LINK_STEPS = 2_000_000;
// Entries judged between two turns of the event loop: the check of a 100,000-entry
// tree never holds the server for more than a few milliseconds at a time.
const ENTRIES_PER_TURN = 2_000;

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
  if (raw.length > MAX_PATH_LENGTH) throw unsafe(raw.slice(0, 200), `the path is longer than ${MAX_PATH_LENGTH} characters`);
  if (raw.includes('\0')) throw unsafe(raw, 'the path contains a NUL byte');
  if (isAbsoluteLike(raw)) throw unsafe(raw, 'the path is absolute');
  if (raw.includes('\\')) throw unsafe(raw, 'the path contains a backslash');
  const segments = raw.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) throw unsafe(raw, "the path contains a '..' segment");
  return segments.join('/');
}

/**
 * A trie of the tree's symlinks by path segment, so that "is any prefix of this
 * path a symlink?" costs one map look-up per segment, not one join per prefix.
 */
interface LinkNode {
  children: Map<string, LinkNode>;
  /** Set when this path is a symlink: its target as stored. */
  link?: string;
}

function linkTrie(entries: readonly TreeEntry[]): LinkNode {
  const root: LinkNode = { children: new Map() };
  for (const e of entries) {
    if (e.type !== 'symlink') continue;
    let node = root;
    for (const segment of e.path.split('/')) {
      let next = node.children.get(segment);
      if (!next) node.children.set(segment, (next = { children: new Map() }));
      node = next;
    }
    node.link = e.linkpath ?? '';
  }
  return root;
}

/**
 * Rejects unless every entry stays inside the tree: no entry is reached through a
 * symlink, every symlink (followed through the other symlinks of the tree) resolves
 * inside it, and every hardlink points at a regular file stored earlier. Yields to
 * the event loop now and then: a server judging a large tree still answers.
 */
export async function assertSafeTree(entries: readonly TreeEntry[]): Promise<void> {
  const seen = new Set<string>();
  for (const e of entries) {
    if (seen.has(e.path)) {
      throw new SlipwayError('E_ARTEFACT_INVALID', `the artefact stores "${e.path}" twice`, {
        entry: e.path,
      });
    }
    seen.add(e.path);
  }

  const links = linkTrie(entries);
  const budget = { steps: MAX_LINK_STEPS };
  const files = new Set<string>();
  let judged = 0;
  for (const e of entries) {
    if (++judged % ENTRIES_PER_TURN === 0) await new Promise((r) => setImmediate(r));
    assertNotThroughSymlink(e.path, links);
    if (e.type === 'symlink') assertSymlinkInside(e, links, budget);
    if (e.type === 'hardlink') assertHardlinkInside(e, files);
    if (e.type === 'file') files.add(e.path);
  }
}

function assertNotThroughSymlink(path: string, links: LinkNode): void {
  const segments = path.split('/');
  let node: LinkNode | undefined = links;
  for (let i = 0; i < segments.length - 1 && node; i++) {
    node = node.children.get(segments[i]!);
    if (node?.link !== undefined) {
      const prefix = segments.slice(0, i + 1).join('/');
      throw unsafe(path, `it would be written through the symlink "${prefix}"`, { symlink: prefix });
    }
  }
}

function assertSymlinkInside(e: TreeEntry, links: LinkNode, budget: { steps: number }): void {
  const target = e.linkpath ?? '';
  if (target === '') throw unsafe(e.path, 'the symlink has an empty target');
  if (target.length > MAX_PATH_LENGTH) throw unsafe(e.path, `the symlink target is longer than ${MAX_PATH_LENGTH} characters`);
  if (isAbsoluteLike(target)) {
    throw unsafe(e.path, `the symlink points at the absolute path "${target}"; use a relative link`, {
      linkpath: target,
    });
  }
  if (target.includes('\\') || target.includes('\0')) {
    throw unsafe(e.path, 'the symlink target contains a backslash or NUL', { linkpath: target });
  }
  const fromDir = e.path.split('/').slice(0, -1);
  if (!resolvesInside({ fromDir, target, links, budget })) {
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
 * Each step spends one unit of the tree's budget; a tree that runs out is refused.
 */
function resolvesInside(o: { fromDir: readonly string[]; target: string; links: LinkNode; budget: { steps: number } }): boolean {
  // Parallel stacks: the segments walked so far and the trie node of each prefix
  // (undefined once off every symlink's path).
  const stack: string[] = [];
  const nodes: (LinkNode | undefined)[] = [];
  const push = (segment: string) => {
    const parent = nodes.length === 0 ? o.links : nodes[nodes.length - 1];
    stack.push(segment);
    nodes.push(parent?.children.get(segment));
  };
  for (const segment of o.fromDir) push(segment);
  // Reversed, so the next segment is pop()ed: shift() would make a long target quadratic.
  const pending = o.target.split('/').reverse();
  let hops = 0;
  while (pending.length > 0) {
    if (--o.budget.steps < 0) {
      throw new SlipwayError('E_ARTEFACT_INVALID', `the artefact's symlinks take more than ${MAX_LINK_STEPS} steps to follow; refusing a tree this tangled`, { limit: 'linkSteps' });
    }
    const segment = pending.pop() as string;
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (stack.length === 0) return false;
      stack.pop();
      nodes.pop();
      continue;
    }
    push(segment);
    const next = nodes[nodes.length - 1]?.link;
    if (next === undefined) continue;
    hops += 1;
    if (hops > MAX_SYMLINK_HOPS || isAbsoluteLike(next)) return false;
    stack.pop();
    nodes.pop();
    const parts = next.split('/');
    for (let i = parts.length - 1; i >= 0; i--) pending.push(parts[i]!);
  }
  return true;
}
