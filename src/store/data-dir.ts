// Where everything lives under the data directory (.slipway/ by default), and
// keeping it private: only the server's user reads anything in it; when the server
// is root, instances (group INSTANCE_IDS.group) may pass through to their own
// releases/<env>, and nothing else.

import { chmodSync, lchownSync, lstatSync, mkdirSync, readdirSync, type Dirent } from 'node:fs';
import { APP_DATA_DIR_NAME } from './app-data-dir.ts';
import { dirname, join, relative, resolve } from 'node:path';
import { INSTANCE_IDS } from '../core/service-config.ts';
import { keepOutOfGit } from '../platform/keep-out-of-git.ts';

export interface DataDirPaths {
  root: string;
  stateDb: string;
  artefacts: string;
  /** File blobs by sha256 (deploys that send only what changed), their staging and their references: store/blob-store.ts. */
  blobs: string;
  releases: string;
  logs: string;
  router: string;
  /** Holds master.key (mode 0600) when SLIPWAY_MASTER_KEY is not used. */
  keys: string;
  masterKey: string;
  /** The server's Ed25519 signing key (mode 0600): signs artefact manifests and audit checkpoints. */
  signingKey: string;
  /** The admin token made on first start (mode 0600): the local CLI's default credential. */
  adminToken: string;
  /** The signed checkpoint of the audit log's head. */
  auditHead: string;
  /** Programs the server prepares for the processes it starts (the log relay, bundled). */
  bin: string;
  serverJson: string;
  serverLock: string;
  serverLog: string;
  tmp: string;
}

export function dataDirPaths(root: string): DataDirPaths {
  const r = resolve(root);
  return {
    root: r,
    stateDb: join(r, 'state.db'),
    artefacts: join(r, 'artefacts'),
    blobs: join(r, 'blobs'),
    releases: join(r, 'releases'),
    logs: join(r, 'logs'),
    router: join(r, 'router'),
    keys: join(r, 'keys'),
    masterKey: join(r, 'keys', 'master.key'),
    signingKey: join(r, 'keys', 'signing.key'),
    adminToken: join(r, 'admin.token'),
    auditHead: join(r, 'audit-head.json'),
    bin: join(r, 'bin'),
    serverJson: join(r, 'server.json'),
    serverLock: join(r, 'server.lock'),
    serverLog: join(r, 'server.log'),
    tmp: join(r, 'tmp'),
  };
}

export const DEFAULT_DATA_DIR = '.slipway';

export interface PreparedDataDir {
  /** Paths (relative to the data directory) that lost permission bits, as `path 0644 -> 0600`. */
  tightened: string[];
  /** What the server should say in its log when it starts (also written to stderr unless onNotice is given). */
  notices: string[];
}

/**
 * The data directory itself, owner-only, and umask 077 for all the server (and what
 * it starts) creates from now on: what a server needs before it takes the data
 * directory's lock, so that the lock file is private too. Nothing that is there
 * already is changed: a server that finds another one running leaves it as it is.
 */
export function makeDataRoot(paths: DataDirPaths): void {
  try {
    process.umask(0o077);
  } catch {
    // worker threads may not set it; the modes below are explicit anyway
  }
  mkdirSync(paths.root, { recursive: true, mode: 0o700 });
  keepOutOfGit(paths.root);
}

/**
 * Makes the data directory and the directories the server writes into, private:
 * umask 077 for everything the server (and what it starts) creates from now on, and
 * what an older release left readable (0755 directories, 0644 files) tightened to
 * owner-only. Tightened rather than refused: those modes were slipway's own
 * defaults, not the admin's choice, and refusing would leave the data as open as
 * it was until someone acts.
 */
export function prepareDataDir(paths: DataDirPaths, opts: { onNotice?: (message: string) => void } = {}): PreparedDataDir {
  makeDataRoot(paths);
  for (const d of [paths.root, paths.artefacts, paths.blobs, paths.releases, paths.logs, paths.router, paths.tmp]) mkdirSync(d, { recursive: true, mode: 0o700 });
  const asRoot = process.getuid?.() === 0;
  const tightened: string[] = [];
  const failed: string[] = [];
  tighten(paths.root, { root: paths.root, passable: asRoot ? passableDirs(paths) : new Set(), tightened, failed });
  const notices: string[] = [];
  if (failed.length > 0) notices.push(`could not make ${failed.length} path(s) in the data directory ${paths.root} private: ${failed.slice(0, 10).join(', ')}; fix their owner or mode by hand`);
  if (tightened.length > 0) {
    notices.push(`tightened ${tightened.length} path(s) in the data directory ${paths.root} to owner-only (an older slipway left them readable by others): ${tightened.slice(0, 10).join(', ')}${tightened.length > 10 ? ', ...' : ''}`);
  }
  if (asRoot) notices.push(...openAncestors(paths.root));
  else notices.push(`this server does not run as root (uid ${process.getuid?.()}): its instances run as its own user and can read the data directory ${paths.root} (tokens, keys, other environments); run the server as root to give each environment a user of its own`);
  const say = opts.onNotice ?? ((m: string) => process.stderr.write(`slipway: ${m}\n`));
  for (const n of notices) say(n);
  return { tightened, notices };
}

/**
 * The directories instances pass through (0710, their group): the data directory,
 * releases/, releases/<env>, app-data/ and app-data/<service> (app-data-dir.ts).
 */
function passableDirs(paths: DataDirPaths): Set<string> {
  const appData = join(paths.root, APP_DATA_DIR_NAME);
  const out = new Set([paths.root, paths.releases, appData]);
  for (const parent of [paths.releases, appData]) {
    let entries: Dirent[] = [];
    try {
      entries = readdirSync(parent, { withFileTypes: true });
    } catch {
      // app-data/ is made by the first instance that has one
    }
    for (const e of entries) if (e.isDirectory()) out.add(join(parent, e.name));
  }
  return out;
}

interface TightenWalk {
  root: string;
  passable: Set<string>;
  tightened: string[];
  failed: string[];
}

/**
 * Owner-only modes for everything. What another user owns (a release tree or HOME
 * given to an environment's user) has only its top closed and is not entered: that
 * user could swap a path under the walk for a symlink to a host file, while its
 * top sits in a directory of root's, where nobody else can swap anything, and,
 * closed, shuts everyone else out of all below it. Symlinks are never followed.
 */
function tighten(path: string, w: TightenWalk): void {
  try {
    tightenOne(path, w);
  } catch (e) {
    // A file that vanished, or a filesystem that refuses chmod/chown: said, not fatal.
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') w.failed.push(`${relative(w.root, path) || '.'} (${code ?? (e as Error).message})`);
  }
}

function tightenOne(path: string, w: TightenWalk): void {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return;
  const isOwn = st.uid === process.getuid?.();
  const mode = st.mode & 0o7777;
  const passable = isOwn && w.passable.has(path);
  const wanted = passable ? 0o710 : mode & ~0o077;
  if (passable && st.gid !== INSTANCE_IDS.group) lchownSync(path, st.uid, INSTANCE_IDS.group);
  if (mode !== wanted) {
    chmodSync(path, wanted);
    // 0700 -> 0710 for a directory instances pass through is not news.
    if ((mode & ~wanted) !== 0) w.tightened.push(`${relative(w.root, path) || '.'} ${octal(mode)} -> ${octal(wanted)}`);
  }
  if (isOwn && st.isDirectory()) for (const name of readdirSync(path)) tighten(join(path, name), w);
}

function opensToInstances(dir: string, mode: number): boolean {
  try {
    lchownSync(dir, 0, INSTANCE_IDS.group);
    chmodSync(dir, mode | 0o010);
    return true;
  } catch {
    return false; // then said as a directory instances cannot pass
  }
}

const octal = (mode: number) => `0${mode.toString(8).padStart(3, '0')}`;

/**
 * Instances run as other users: they reach their release directory only if every
 * directory above the data directory lets them pass. One that lets nobody but its
 * owner in (0700, as mkdtemp and /root make) is opened to the instances' group
 * alone (0710): nobody else gains anything. Anything else is the admin's to decide.
 */
function openAncestors(root: string): string[] {
  const notices: string[] = [];
  for (let dir = dirname(root); ; dir = dirname(dir)) {
    const st = lstatSync(dir);
    const mode = st.mode & 0o7777;
    const passes = (mode & 0o001) !== 0 || (st.gid === INSTANCE_IDS.group && (mode & 0o010) !== 0);
    if (!passes) {
      if (st.uid === 0 && (mode & 0o070) === 0 && st.isDirectory() && opensToInstances(dir, mode)) {
        notices.push(`${dir} was ${octal(mode)}: let instances (group ${INSTANCE_IDS.group}) pass through it to their release directories (now ${octal(mode | 0o010)}, group ${INSTANCE_IDS.group}); files in it that others may read become readable by instances: a data directory under /var/lib avoids this`);
      } else {
        notices.push(`instances cannot reach their release directories: ${dir} (${octal(mode)}, uid ${st.uid}, gid ${st.gid}) lets neither others nor group ${INSTANCE_IDS.group} pass; chmod o+x it, or move the data directory (--data-dir /var/lib/slipway)`);
      }
    }
    if (dir === dirname(dir)) break;
  }
  return notices;
}
