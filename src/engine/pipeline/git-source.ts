// The code a pipeline run builds: a commit of a git repository on this machine,
// read with the system git (argv only, no shell) and checked out clean with
// `git archive`, so uncommitted and untracked files never reach an artefact.

import { spawn } from 'node:child_process';
import { mkdirSync, realpathSync } from 'node:fs';
import { isAbsolute, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import { SlipwayError } from '../../core/errors.ts';
import { untarAs, type CommandUser } from './pipeline-user.ts';

/** Variables of the server's environment git may see: what finds programs and keys, never the server's secrets. */
const GIT_INHERITED = [
  'PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR',
  'SSH_AUTH_SOCK', 'GIT_SSH', 'GIT_SSH_COMMAND', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy',
];

/**
 * git's environment. A repository's own config can make git run commands (a filter's
 * smudge during `git archive`, a hook during a fetch), so git never gets the server's
 * environment (SLIPWAY_MASTER_KEY, VAULT_TOKEN, SLIPWAY_SECRET_*): only GIT_INHERITED.
 */
export function gitEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const k of GIT_INHERITED) if (process.env[k] !== undefined) env[k] = process.env[k];
  return { ...env, GIT_TERMINAL_PROMPT: '0' };
}

/**
 * Settings that outrank the repository's config: no hooks (a fetch runs the
 * reference-transaction hook), no fsmonitor command, and a bare repository only when
 * named as one (so a directory laid out as a repository's insides is not taken for one).
 */
export const GIT_GUARDS = ['-c', 'core.hooksPath=/dev/null', '-c', 'core.fsmonitor=false', '-c', 'safe.bareRepository=explicit'];

function git(repo: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', [...GIT_GUARDS, '-C', repo, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: gitEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', (e) => reject(new SlipwayError('E_BAD_REQUEST', `cannot run git: ${e.message}; install git on the server's machine`, {}, { cause: e })));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

function assertOutside(repo: string, dataRoot: string): void {
  const real = (p: string): string => {
    try {
      return realpathSync(p);
    } catch {
      return p;
    }
  };
  const inData = relative(real(dataRoot), real(repo));
  if (inData === '' || (!inData.startsWith('..') && !isAbsolute(inData))) {
    throw new SlipwayError('E_POLICY_DENIED', `the repository ${repo} is inside slipway's data directory, which holds what deployers upload; a run builds only from a repository outside it`, { repo, rule: 'pipeline.repo' });
  }
}

const REF = /^[\w./@^~{}+-]{1,200}$/;

export interface ResolvedSource {
  repo: string;
  ref: string;
  commit: string;
  /** The service's directory inside the repository ('' for the top). */
  subdir: string;
}

/**
 * The commit `ref` names in the repository at `repo`. `dataRoot`: slipway's data
 * directory, where no repository may be: everything in it is the server's (so git
 * trusts its config), and deployers put files there (an uploaded artefact is
 * unpacked into releases/), so a repository there could be one a deployer laid out,
 * config and all.
 */
export async function resolveSource(o: { repo: string; ref: string; subdir: string; dataRoot?: string }): Promise<ResolvedSource> {
  if (!isAbsolute(o.repo)) throw new SlipwayError('E_BAD_REQUEST', `the repository must be an absolute path on the server's machine, got "${o.repo}"`);
  if (o.dataRoot !== undefined) assertOutside(o.repo, o.dataRoot);
  if (!REF.test(o.ref) || o.ref.startsWith('-')) throw new SlipwayError('E_BAD_REQUEST', `"${o.ref.slice(0, 80)}" is not a git revision (a branch, tag or commit)`);
  if (o.subdir.split('/').includes('..') || o.subdir.startsWith('/')) throw new SlipwayError('E_BAD_REQUEST', `the service directory must be inside the repository, got "${o.subdir}"`);
  const top = await git(o.repo, ['rev-parse', '--show-toplevel']);
  if (top.code !== 0) {
    // git's words would say whether the path exists, or who owns it: a deployer may
    // not map the server's disk with run requests. The server's log has them.
    throw new SlipwayError('E_BAD_REQUEST', `${o.repo} is not a git repository this server can read: it does not exist, is not a repository (a bare one is not built), or git refuses it (owned by another user); the server's log has git's words`, {}, { cause: new Error(top.stderr.trim()) });
  }
  const rev = await git(o.repo, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${o.ref}^{commit}`]);
  if (rev.code !== 0) throw new SlipwayError('E_NOT_FOUND', `git revision "${o.ref}" is not a commit of ${o.repo}`, { ref: o.ref });
  return { repo: o.repo, ref: o.ref, commit: rev.stdout.trim(), subdir: o.subdir.replace(/\/+$/, '') };
}

/** A file's contents at the commit; null when the commit has no such file. */
export async function readFileAt(src: Pick<ResolvedSource, 'repo' | 'commit'>, path: string): Promise<string | null> {
  const r = await git(src.repo, ['show', `${src.commit}:${path}`]);
  return r.code === 0 ? r.stdout : null;
}

export async function tagsAt(src: Pick<ResolvedSource, 'repo' | 'commit'>): Promise<string[]> {
  const r = await git(src.repo, ['tag', '--points-at', src.commit]);
  return r.code === 0 ? r.stdout.split('\n').filter(Boolean) : [];
}

/** Is the commit on the branch (the branch, or origin/<branch> when only that exists)? Returns the ref that proved it. */
export async function branchContaining(src: Pick<ResolvedSource, 'repo' | 'commit'>, branch: string): Promise<string | null> {
  for (const ref of [`refs/heads/${branch}`, `refs/remotes/origin/${branch}`]) {
    const exists = await git(src.repo, ['rev-parse', '--verify', '--quiet', ref]);
    if (exists.code !== 0) continue;
    const anc = await git(src.repo, ['merge-base', '--is-ancestor', src.commit, ref]);
    if (anc.code === 0) return ref;
  }
  return null;
}

/** One line per commit after `since` up to the commit (the last 20 when `since` is null). */
export async function commitMessages(src: Pick<ResolvedSource, 'repo' | 'commit'>, since: string | null): Promise<string> {
  const range = since ? [`${since}..${src.commit}`] : ['-n', '20', src.commit];
  const r = await git(src.repo, ['log', '--format=- %s (%h, %an)', ...range]);
  return r.code === 0 ? r.stdout.trim() : '';
}

/**
 * Writes the commit's tree (exactly what is committed) into `dir`; with `user`
 * (pipeline-user.ts), unpacked by that user, so root writes nothing where it can.
 */
export async function checkoutClean(src: Pick<ResolvedSource, 'repo' | 'commit'>, dir: string, user: CommandUser | null = null): Promise<void> {
  if (user === null) mkdirSync(dir, { recursive: true });
  const child = spawn('git', [...GIT_GUARDS, '-C', src.repo, 'archive', '--format=tar', src.commit], { stdio: ['ignore', 'pipe', 'pipe'], env: gitEnv() });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  // git gone from PATH, or no process left to start it: the stage fails, the server stays up.
  let spawnError: Error | null = null;
  const exited = new Promise<number>((r) => {
    child.on('error', (e) => {
      spawnError = e;
      r(-1);
    });
    child.on('close', (code) => r(code ?? -1));
  });
  let unpackError: unknown = null;
  try {
    if (user === null) await pipeline(child.stdout, tar.x({ cwd: dir, strict: true }));
    else await untarAs(user, child.stdout, dir, { gzip: false });
  } catch (e) {
    unpackError = e;
  }
  const code = await exited;
  if (spawnError) throw new SlipwayError('E_BAD_REQUEST', `git archive of ${src.commit} could not start: ${(spawnError as Error).message}`);
  if (code !== 0) throw new SlipwayError('E_BAD_REQUEST', `git archive of ${src.commit} failed: ${stderr.trim()}`);
  if (unpackError) throw unpackError;
}
