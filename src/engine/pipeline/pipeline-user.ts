// Who a release run's commands run as. Build, test, acceptance, provision, backup and
// restore are the deployer's code, written in the deployer's slipway.yaml; on a server
// running as root they never get root: each service's runs have an unprivileged uid
// of their own (the engine's HostIdentity port: runtime/process/run-identity.ts on a
// real host), with the instances' group, no other groups, and a HOME of their own,
// so they read their checkout and nothing of slipway's.
//
// The checkout is the user's (runDir/work, 0700), and root never walks it by path:
// a process of the user could swap a directory for a symlink under the walk and have
// root write, read or delete a host file. So what crosses between root and the user
// crosses as a tar stream through a pipe: the commit's files go in unpacked by the
// user, the build's output comes out packed by the user and is unpacked by root with
// the checks an uploaded artefact gets, and the user empties its own directory.
// Every process a command started (its `setsid` daemons too: each carries the
// command's marker in its environment) is killed when the command ends.

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, lchownSync, lstatSync, mkdirSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SlipwayError } from '../../core/errors.ts';
import { INSTANCE_IDS } from '../../core/service-config.ts';
import { serverUserIdentity, type HostIdentity, type HostUser } from '../ports.ts';

/** The user a command runs as; null everywhere means the server's own (it is not root). */
export interface CommandUser extends HostUser {
  /** The host the user is of, which readies its directories and finds its processes. */
  readonly host: HostIdentity;
}

/** Rounds of "kill every marked process of the uid, then look": a fork loop cannot outrun several. */
const KILL_ROUNDS = 20;

/**
 * The service's pipeline user on a root server; null on any other. The engine passes
 * its host identity; without one, the server's own user (ports.ts), which refuses on root.
 */
export function pipelineUser(releasesDir: string, service: string, host: HostIdentity = serverUserIdentity): CommandUser | null {
  const id = host.pipelineUser({ releasesDir, service });
  return id === null ? null : { ...id, host };
}

/**
 * Readies a run's directories: `dirs` (the pipeline's directory and the run's, root's)
 * passable by the instances' group, and runDir/work the user's own. On a server that
 * is not root, just made.
 */
export function readyRunDirs(dirs: string[], work: string, user: CommandUser | null): void {
  if (user === null) {
    mkdirSync(work, { recursive: true });
    return;
  }
  for (const d of dirs) user.host.ownDirectory(d, { uid: 0, gid: INSTANCE_IDS.group, mode: 0o710 });
  mkdirSync(work, { mode: 0o700, recursive: true });
  const st = lstatSync(work);
  if (!st.isDirectory()) throw new SlipwayError('E_UNSAFE_PATH', `${work} is not a directory; remove it and start the run again`, { path: work });
  // Root's until now (just made, or left by a server from before pipeline users): empty, or root's own files.
  if (st.uid !== user.uid) {
    if (readdirSync(work).length > 0) rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { mode: 0o700, recursive: true });
    lchownSync(work, user.uid, user.gid);
  }
}

/** A fresh marker for one command's processes (its environment's SLIPWAY_PIPELINE_COMMAND). */
export function commandMarker(): string {
  return randomBytes(12).toString('hex');
}

/**
 * Unpacks a tar stream into `dir` (inside the user's work directory, not existing yet)
 * as the user: root never writes where the user can.
 */
export async function untarAs(user: CommandUser, tar: Readable, dir: string, o: { gzip: boolean }): Promise<void> {
  const made = spawnSync('mkdir', ['-p', '--', dir], { uid: user.uid, gid: user.gid, encoding: 'utf8' });
  if (made.status !== 0) throw new SlipwayError('E_INTERNAL', `could not make ${dir} as the pipeline's user: ${made.stderr.trim()}`);
  const child = spawn('tar', ['-x', ...(o.gzip ? ['-z'] : []), '-f', '-', '-C', dir, '--no-same-owner', '--no-same-permissions'], {
    uid: user.uid, gid: user.gid, stdio: ['pipe', 'ignore', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' },
  });
  await finish(child, 'unpacking the checkout as the pipeline\'s user', () => pipeline(tar, child.stdin!));
}

/**
 * Packs `dir` as the user into `outFile` (a gzipped tar in a directory of root's):
 * the user reads only what it may, and root reads only the pipe.
 */
export async function tarAs(user: CommandUser, dir: string, outFile: string): Promise<void> {
  // gzip -1: the stream only crosses a pipe; the artefact is compressed again when packed.
  const child = spawn('tar', ['-c', '-I', 'gzip -1', '-f', '-', '-C', dir, '.'], {
    uid: user.uid, gid: user.gid, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' },
  });
  await finish(child, 'packing the build\'s output as the pipeline\'s user', () => pipeline(child.stdout!, createWriteStream(outFile, { mode: 0o600 })));
}

async function finish(child: ReturnType<typeof spawn>, what: string, pump: () => Promise<void>): Promise<void> {
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4_000)));
  const exited = new Promise<number | null>((resolve) => {
    child.on('error', (e) => {
      stderr += e.message;
      resolve(null);
    });
    child.on('close', (code) => resolve(code));
  });
  const pumped = pump().catch((e: unknown) => e as Error);
  const [code, pumpError] = await Promise.all([exited, pumped]);
  if (code !== 0 || pumpError) throw new SlipwayError('E_INTERNAL', `${what} failed: ${stderr.trim() || (pumpError as Error | undefined)?.message || `exit code ${code}`}`);
}

/**
 * Removes a run's directory: the user empties its work directory itself, and root
 * removes only what is root's. Something the user keeps re-making in it is left, and
 * said.
 */
export function removeRunDir(runDir: string, work: string, user: CommandUser | null): void {
  if (user === null) {
    rmSync(runDir, { recursive: true, force: true });
    return;
  }
  let entries: string[];
  try {
    entries = readdirSync(runDir);
  } catch {
    return;
  }
  for (const name of entries) {
    const p = join(runDir, name);
    if (p === work) continue;
    rmSync(p, { recursive: true, force: true });
  }
  try {
    const st = lstatSync(work);
    if (st.isDirectory() && st.uid === user.uid) {
      spawnSync('find', [work, '-mindepth', '1', '-delete'], { uid: user.uid, gid: user.gid, stdio: 'ignore', timeout: 120_000 });
      rmdirSync(work);
    } else rmSync(work, { recursive: true, force: true });
    rmdirSync(runDir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw new SlipwayError('E_INTERNAL', `could not remove ${runDir}: ${(e as Error).message}`);
  }
}

/**
 * Kills every process of the user that carries the command's marker in its
 * environment, until the host finds none (as an instance's leftovers are found).
 */
export function stopMarked(user: CommandUser, marker: string): void {
  for (let round = 0; round < KILL_ROUNDS; round++) {
    const left = user.host.markedProcesses('SLIPWAY_PIPELINE_COMMAND', marker, user.uid);
    if (left.length === 0) return;
    for (const { pid } of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}
