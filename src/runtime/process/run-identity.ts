// Who an instance of the process runtime runs as, and what it owns. A server running
// as root never lends its privileges: each environment's instances run as a uid of
// the environment's own (or run.user) with the instances' group, own their release
// tree and a HOME, and can reach nothing else of the data directory.
//
// The filesystem is the record of which uid an environment has: the owner of
// releases/<env>/.home. It survives restarts, needs no passwd entry, and scanning
// the siblings is how a new environment never gets a uid another one has.
//
// releases/<env> itself stays root's (0710, the instances' group): were it the
// environment's, its code could rename or replace the entries root later walks and
// chowns (a release tree swapped for a symlink to /etc). Inside it, a release tree
// is chowned children first and its top last, so until the walk is done the tree is
// root's 0700 and no instance can enter it to race the walk.

import { spawnSync } from 'node:child_process';
import { accessSync, constants as fsConstants, lstatSync, lchownSync, chmodSync, mkdirSync, readFileSync, readdirSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { SlipwayError } from '../../core/errors.ts';
import { INSTANCE_IDS } from '../../core/service-config.ts';
import { touchTreeAs } from '../../platform/touch-tree.ts';
import { markedProcesses } from './marked-processes.ts';

export interface RunIdentity {
  /** null: the server's own user (the server is not root). */
  uid: number | null;
  gid: number | null;
  /** The environment's HOME, which the instance owns; TMPDIR is inside it. */
  home: string;
  tmp: string;
}

const HOME_DIR = '.home';

export function isRootServer(): boolean {
  return process.getuid?.() === 0;
}

/**
 * Readies the environment's directory, its HOME and the release tree for the user
 * the instance runs as, and says who that is. Synchronous on purpose: two starts in
 * one server cannot interleave between the scan for a free uid and taking it.
 */
export function prepareRunIdentity(o: { envDir: string; releaseDir: string; user: string | undefined }): RunIdentity {
  const { envDir, releaseDir, user } = o;
  if (dirname(releaseDir) !== envDir) throw new SlipwayError('E_UNSAFE_PATH', `release directory ${releaseDir} is not inside ${envDir}`, { path: releaseDir });
  const home = join(envDir, HOME_DIR);
  const tmp = join(home, 'tmp');
  if (!isRootServer()) {
    assertRunUserPossible(user);
    mkdirSync(tmp, { recursive: true, mode: 0o700 });
    return { uid: null, gid: null, home, tmp };
  }
  const gid = INSTANCE_IDS.group;
  ownDirectory(envDir, { uid: 0, gid, mode: 0o710 });
  const uid = user !== undefined ? namedUid(user, envDir) : environmentUid(envDir);
  readyHome(home, uid);
  chownReleaseTree(releaseDir, uid);
  return { uid, gid, home, tmp };
}

/**
 * The user a service's release-run commands run as (build, test, acceptance,
 * provision, backup, restore: the deployer's code, run by the pipeline): a uid of its
 * own, which no environment's instances have, recorded like an environment's by the
 * owner of releases/.pipeline.<service>/.home (a name no environment's directory can
 * have: service names start with a letter). null on a server that is not root.
 */
export function preparePipelineIdentity(o: { releasesDir: string; service: string }): RunIdentity | null {
  if (!isRootServer()) return null;
  const dir = join(o.releasesDir, `.pipeline.${o.service}`);
  const gid = INSTANCE_IDS.group;
  ownDirectory(dir, { uid: 0, gid, mode: 0o710 });
  const uid = environmentUid(dir);
  const home = join(dir, HOME_DIR);
  readyHome(home, uid);
  return { uid, gid, home, tmp: join(home, 'tmp') };
}

/**
 * Gives up a service's pipeline user (the engine asks once no environment of the
 * service is left and no run of it is unfinished): whatever still runs as its uid is
 * killed (a daemon that cleared its marker too), `trees` (its runs' checkouts), then
 * releases/.pipeline.<service> with the HOME in it are removed, each of the user's
 * trees emptied by that user (removeTreeSafely), and the uid's claim in the
 * machine-wide record is dropped, so the uid may go to another. false, removing
 * nothing, when there is no pipeline user (the server is not root, or no run made one).
 * Throws when a tree could not be removed: the claim stays then, as the uid's files do.
 * Only a uid the record says is this HOME's is killed and unclaimed: one two servers
 * once shared may run another's instances.
 */
export function releasePipelineIdentity(o: { releasesDir: string; service: string; trees: readonly string[] }): boolean {
  const dir = join(o.releasesDir, `.pipeline.${o.service}`);
  if (!isRootServer() || ownerOf(dir) === null) return false;
  const home = join(dir, HOME_DIR);
  const owner = ownerOf(home);
  const uid = inRange(owner) && claimHolder(owner) === resolve(home) ? owner : null;
  // Killed by a process of the uid itself: kill(-1) reaches that uid's processes and no other.
  if (uid !== null) spawnSync('kill', ['-KILL', '-1'], { uid, gid: INSTANCE_IDS.group, stdio: 'ignore', timeout: 10_000 });
  for (const tree of o.trees) removeTreeSafely(tree);
  removeTreeSafely(dir);
  if (uid !== null && claimHolder(uid) === resolve(home)) rmSync(join(uidRegistry(), String(uid)), { force: true });
  return true;
}

/**
 * The engine's HostIdentity port (engine/ports.ts) on this host: who runs the
 * deployer's code and how what is theirs goes. server.ts gives it to the engine,
 * which imports no runtime.
 */
export const processHostIdentity = {
  pipelineUser(o: { releasesDir: string; service: string }): { uid: number; gid: number; home: string; tmp: string } | null {
    const id = preparePipelineIdentity(o);
    return id === null || id.uid === null || id.gid === null ? null : { uid: id.uid, gid: id.gid, home: id.home, tmp: id.tmp };
  },
  ownDirectory: (dir: string, o: { uid: number; gid: number; mode: number }): void => ownDirectory(dir, o),
  releasePipelineUser: (o: { releasesDir: string; service: string; trees: readonly string[] }): boolean => releasePipelineIdentity(o),
  removeTree: (path: string): void => removeTreeSafely(path),
  markedProcesses: (name: string, value: string, uid: number): { pid: number }[] => markedProcesses(name, value, uid),
  /** A tree given to a user is touched by that user; one still root's, by root (no one else can change it). */
  touchTree(dir: string, at: Date): void {
    const owner = ownerOf(dir);
    if (owner === null) throw new Error(`${dir} is not a directory`);
    touchTreeAs(dir, at, isRootServer() && owner !== 0 ? { uid: owner, gid: INSTANCE_IDS.group } : null);
  },
};

/**
 * Removes a directory that may hold trees given to an environment's user (a release
 * tree, a HOME). Root recurses only through directories of its own, which no one else
 * can change; a directory another user owns is emptied by that user (`find -delete`,
 * run as its owner), and root only removes it once empty. Root's own recursive
 * removal of such a tree could be raced: a directory swapped for a symlink to /etc
 * mid-walk has root delete host files. On a server that is not root, everything is
 * one user's, and removed as usual.
 */
export function removeTreeSafely(path: string): void {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!isRootServer()) {
    rmSync(path, { recursive: true, force: true });
    return;
  }
  if (!st.isDirectory()) {
    rmSync(path, { force: true });
    return;
  }
  if (st.uid === 0) {
    for (const name of readdirSync(path)) removeTreeSafely(join(path, name));
    rmdirSync(path);
    return;
  }
  const r = spawnSync('find', [path, '-mindepth', '1', '-delete'], { uid: st.uid, gid: INSTANCE_IDS.group, encoding: 'utf8', timeout: 300_000 });
  try {
    rmdirSync(path);
  } catch (e) {
    throw new SlipwayError('E_INTERNAL', `could not remove ${path}: its owner (uid ${st.uid}) could not empty it (${(r.stderr ?? '').trim().slice(0, 300) || r.error?.message || (e as Error).message})`, { path });
  }
}

/**
 * Whether this server can run instances as run.user at all: for a check before a
 * deploy changes anything (the start of an instance checks it again, with the rest).
 */
export function assertRunUserPossible(user: string | undefined): void {
  if (user === undefined) return;
  if (isRootServer()) namedUid(user);
  else if (lookupUid(user) !== process.getuid?.()) {
    throw new SlipwayError('E_CONFIG_INVALID', `run.user: "${user}" cannot be honoured: this slipway server does not run as root (uid ${process.getuid?.()}), so its instances can only run as its own user; remove run.user, or run the server as root`, { key: 'run.user', user, serverUid: process.getuid?.() });
  }
}

/** A directory of root's that instances pass through; a symlink in its place is refused, never followed. */
export function ownDirectory(dir: string, o: { uid: number; gid: number; mode: number }): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new SlipwayError('E_UNSAFE_PATH', `${dir} is not a directory (a symlink?); remove it and deploy again`, { path: dir });
  if (st.uid !== o.uid || st.gid !== o.gid) lchownSync(dir, o.uid, o.gid);
  if ((st.mode & 0o7777) !== o.mode) chmodSync(dir, o.mode);
}

function namedUid(user: string, envDir?: string): number {
  const uid = lookupUid(user);
  if (uid === null) {
    throw new SlipwayError('E_CONFIG_INVALID', `run.user: no user "${user}" on this machine; create it, give a numeric uid, or remove run.user to get a user of the environment's own`, { key: 'run.user', user });
  }
  if (uid === 0 || (uid >= INSTANCE_IDS.group && uid <= INSTANCE_IDS.lastUser)) {
    throw new SlipwayError('E_CONFIG_INVALID', `run.user: "${user}" is uid ${uid}, which instances may not use (root, or slipway's own range ${INSTANCE_IDS.group}-${INSTANCE_IDS.lastUser}); name another user`, { key: 'run.user', user, uid });
  }
  // One user per environment: a staging run.user naming production's would read production's files.
  const holder = envDir === undefined ? undefined : usersOfOtherEnvironments(envDir).get(uid);
  if (holder !== undefined) {
    throw new SlipwayError('E_CONFIG_INVALID', `run.user: "${user}" (uid ${uid}) already runs environment "${holder}"; each environment needs a user of its own, so that none can read another's files`, { key: 'run.user', user, uid, env: holder });
  }
  // Which host users a deployer may run as is the admin's choice, not slipway.yaml's:
  // `run.user: postgres` would otherwise read that user's files.
  const allowed = (process.env.SLIPWAY_RUN_USERS ?? '').split(',').map((u) => u.trim()).filter(Boolean);
  if (!allowed.includes(user) && !allowed.includes(String(uid))) {
    throw new SlipwayError('E_POLICY_DENIED', `run.user: "${user}" is not one of the users this server's admin allows (SLIPWAY_RUN_USERS${allowed.length ? `: ${allowed.join(', ')}` : ' is empty'}); remove run.user to get a user of the environment's own, or ask the admin`, { key: 'run.user', user, rule: 'run.user' });
  }
  return uid;
}

/** The uid each other environment's HOME records, whatever range it is in. */
function usersOfOtherEnvironments(envDir: string): Map<number, string> {
  const users = new Map<number, string>();
  const releases = dirname(envDir);
  for (const sibling of readdirSync(releases)) {
    if (sibling === basename(envDir)) continue;
    const owner = ownerOf(join(releases, sibling, HOME_DIR));
    if (owner !== null && owner !== 0) users.set(owner, sibling);
  }
  return users;
}

/** A uid for a user name, or for digits as they are; null when no such user. */
function lookupUid(user: string): number | null {
  if (/^\d+$/.test(user)) return Number(user);
  return passwdUids().get(user) ?? null;
}

function passwdUids(): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , uid] = line.split(':');
      if (name && uid && /^\d+$/.test(uid)) out.set(name, Number(uid));
    }
  } catch {
    // no passwd file: only numeric uids are known
  }
  return out;
}

function mtimeOf(path: string): number {
  try {
    return lstatSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

function ownerOf(path: string): number | null {
  try {
    const st = lstatSync(path);
    return st.isDirectory() ? st.uid : null;
  } catch {
    return null;
  }
}

const inRange = (uid: number | null): uid is number => uid !== null && uid >= INSTANCE_IDS.firstUser && uid <= INSTANCE_IDS.lastUser;

/**
 * The environment's uid as its HOME records it, or the lowest one no other environment
 * (of this data directory, or of another on this machine: claimUid) nor passwd has.
 * A recorded uid another data directory's environment holds is given up for a new one
 * (two servers before the host-wide record could both have given out 61185).
 */
function environmentUid(envDir: string): number {
  const taken = usersOfOtherEnvironments(envDir);
  const home = join(envDir, HOME_DIR);
  const recorded = ownerOf(home);
  if (inRange(recorded) && !taken.has(recorded) && claimUid(recorded, home)) return recorded;
  const system = new Set(passwdUids().values());
  for (let uid = INSTANCE_IDS.firstUser; uid <= INSTANCE_IDS.lastUser; uid++) {
    if (!taken.has(uid) && !system.has(uid) && claimUid(uid, home)) return uid;
  }
  throw new SlipwayError('E_INSTANCE_FAILED', `no free uid left in ${INSTANCE_IDS.firstUser}-${INSTANCE_IDS.lastUser} for environment ${basename(envDir)}`, { env: basename(envDir) });
}

/**
 * The machine-wide record of which HOME holds each uid of the range, so that two slipway
 * servers on one machine (two data directories) never give one uid to two
 * environments, whose instances could then read each other's files. A file per uid
 * naming the HOME; a claim whose HOME is gone, or no longer that uid's, is stale and
 * may be taken. SLIPWAY_UID_REGISTRY moves it (tests give each case its own).
 */
function uidRegistry(): string {
  return process.env.SLIPWAY_UID_REGISTRY ?? '/var/lib/slipway/uids';
}

/**
 * Why the machine-wide uid record cannot be kept here (a root server's start says it),
 * or null. Without it, claimUid lets every uid through: uids are then unique within
 * the data directory only, as before the record.
 */
export function uidRegistryProblem(): string | null {
  if (!isRootServer()) return null;
  const dir = uidRegistry();
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    accessSync(dir, fsConstants.W_OK);
    return null;
  } catch (e) {
    return `cannot keep the machine-wide uid record in ${dir} (${(e as Error).message}): environments get uids unique to this data directory only, so do not run a second slipway server on this machine, or set SLIPWAY_UID_REGISTRY to a writable directory`;
  }
}

/** The HOME the machine-wide record names for `uid`; null when none. */
function claimHolder(uid: number): string | null {
  try {
    return readFileSync(join(uidRegistry(), String(uid)), 'utf8').trim();
  } catch {
    return null;
  }
}

/** Claims `uid` for `home`; false when a live claim of another HOME holds it. */
function claimUid(uid: number, home: string): boolean {
  const dir = uidRegistry();
  const file = join(dir, String(uid));
  const want = resolve(home);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileSync(file, `${want}\n`, { flag: 'wx', mode: 0o600 });
      return true;
    } catch (e) {
      // A machine where the record cannot be kept (a read-only /var/lib) runs as before
      // it: uids unique within this data directory (the server's start says so: uidRegistryProblem).
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return true;
    }
    let holder: string;
    try {
      holder = readFileSync(file, 'utf8').trim();
    } catch {
      continue;
    }
    if (holder === want) return true;
    if (ownerOf(holder) === uid) return false;
    // A claim is made just before its HOME: a young one is live whatever its HOME shows.
    if (Date.now() - mtimeOf(file) < 60_000) return false;
    // Stale: that HOME is gone or another uid's now. Taken over by whoever removes it first.
    rmSync(file, { force: true });
  }
  return false;
}

/**
 * HOME (with TMPDIR inside) belongs to the uid. One that belonged to another uid is
 * set aside, root's and closed, never walked: its contents were that uid's to plant.
 */
function readyHome(home: string, uid: number): void {
  const owner = ownerOf(home);
  if (owner === uid) return;
  try {
    lstatSync(home);
    const aside = `${home}.retired-${Date.now()}`;
    renameSync(home, aside);
    lchownSync(aside, 0, 0);
    chmodSync(aside, 0o700);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  // Made by root and given away only once its tmp is in it: nothing in it is anyone else's.
  mkdirSync(join(home, 'tmp'), { recursive: true, mode: 0o700 });
  lchownSync(join(home, 'tmp'), uid, INSTANCE_IDS.group);
  lchownSync(home, uid, INSTANCE_IDS.group);
}

/** Gives the release tree to the uid: owner-only modes, children first, its top last. Done once per tree and uid. */
function chownReleaseTree(releaseDir: string, uid: number): void {
  const top = lstatSync(releaseDir);
  if (!top.isDirectory()) throw new SlipwayError('E_UNSAFE_PATH', `release directory ${releaseDir} is not a directory; remove it and deploy again`, { path: releaseDir });
  if (top.uid === uid) {
    // Already given away: its contents are the uid's, never walked again; only its top is kept closed.
    if ((top.mode & 0o7777) !== 0o700) chmodSync(releaseDir, 0o700);
    return;
  }
  // Closed first: the walk below must not race anything that can still enter the tree.
  lchownSync(releaseDir, 0, 0);
  chmodSync(releaseDir, 0o700);
  if (top.uid === 0) giveAway(releaseDir, uid);
  else giveAwayFromUser(releaseDir, uid);
  lchownSync(releaseDir, uid, INSTANCE_IDS.group);
}

/**
 * A tree another user owned (the environment's uid changed: run.user, or a uid two
 * servers had shared): that user's processes may still run, and one whose working
 * directory is inside could swap a directory for a symlink to /etc under a walk by
 * path, which closing the top does not stop. coreutils' chown and chmod walk with
 * directory descriptors and never follow a link they meet (-P), so they are used
 * here rather than giveAway's walk by path.
 */
function giveAwayFromUser(dir: string, uid: number): void {
  for (const args of [['-R', '-P', `${uid}:${INSTANCE_IDS.group}`, '--', dir], ['-R', 'a-st,go=', '--', dir]]) {
    const tool = args.length === 5 ? 'chown' : 'chmod';
    const r = spawnSync(tool, args, { encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0) throw new SlipwayError('E_INSTANCE_FAILED', `could not give ${dir} to uid ${uid}: ${tool}: ${(r.stderr ?? '').trim().slice(0, 300) || r.error?.message}`, { path: dir });
  }
}

function giveAway(dir: string, uid: number): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    const st = lstatSync(p);
    if (st.isDirectory()) giveAway(p, uid);
    lchownSync(p, uid, INSTANCE_IDS.group);
    // Owner bits only: no setuid or setgid bit survives, and nobody else reads it.
    if (!st.isSymbolicLink()) chmodSync(p, st.mode & 0o700);
  }
}
