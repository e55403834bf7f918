// Runs one of the user's pipeline commands: `sh -c <the command as written>` in a
// directory, with an environment built from an allow-list plus the values the stage
// passes as data. Nothing is ever pasted into the command text, and the server's own
// secrets (SLIPWAY_MASTER_KEY, VAULT_TOKEN, ...) are not in the environment.

import { spawn } from 'node:child_process';
import { commandMarker, stopMarked, type CommandUser } from './pipeline-user.ts';

/** Variables of the server's environment a command may see; everything else is left out. */
const INHERITED = ['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'SHELL', 'TERM'];

const TAIL_BYTES = 16 * 1024;

export interface CommandResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  durationMs: number;
  /** The last 16 KiB of stdout and stderr, interleaved as they came. */
  outputTail: string;
  ok: boolean;
}

export function commandEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const k of INHERITED) if (process.env[k] !== undefined) env[k] = process.env[k];
  return { ...env, CI: 'true', ...extra };
}

/**
 * `user`: whom the command runs as (pipeline-user.ts), with its own HOME and TMPDIR;
 * absent, the server's own user.
 */
export function runCommand(o: { command: string; cwd: string; env: Record<string, string>; timeoutMs: number; signal?: AbortSignal; user?: CommandUser | null }): Promise<CommandResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    let tail = Buffer.alloc(0);
    const keep = (chunk: Buffer) => {
      tail = Buffer.concat([tail, chunk]);
      if (tail.length > TAIL_BYTES * 2) tail = tail.subarray(tail.length - TAIL_BYTES);
    };
    // Its own process group, so a timeout stops everything the command started.
    const u = o.user ?? null;
    // Every process the command starts inherits the marker, by which its leftovers are found (pipeline-user.ts).
    const marker = commandMarker();
    const env = u === null ? commandEnv(o.env) : { ...commandEnv(o.env), HOME: u.home, TMPDIR: u.tmp, USER: String(u.uid), LOGNAME: String(u.uid), SLIPWAY_PIPELINE_COMMAND: marker };
    const as = u === null ? {} : { uid: u.uid, gid: u.gid };
    const child = spawn('sh', ['-c', o.command], { cwd: o.cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...as });
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let timedOut = false;
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      if (u !== null) stopMarked(u, marker);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, o.timeoutMs);
    const onAbort = () => killGroup();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (exitCode: number | null, signal: string | null, extra = '') => {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      const text = tail.subarray(Math.max(0, tail.length - TAIL_BYTES)).toString('utf8') + extra;
      resolve({ exitCode, signal, timedOut, durationMs: Date.now() - started, outputTail: text, ok: exitCode === 0 && !timedOut });
    };
    child.on('error', (e) => finish(null, null, `\n[slipway] could not start sh: ${e.message}\n`));
    // A daemon the command left holding its stdout would keep 'close' from coming: once
    // the command itself has exited, its marked processes go, and the pipes close.
    if (u !== null) child.on('exit', () => stopMarked(u, marker));
    child.on('close', (code, sig) => finish(code, sig, timedOut ? `\n[slipway] stopped after ${o.timeoutMs} ms (command_timeout)\n` : ''));
  });
}

/** "exit code 1", "killed by SIGKILL", "timed out after 600000 ms". */
export function describeFailure(r: CommandResult): string {
  if (r.timedOut) return 'timed out';
  if (r.signal) return `killed by ${r.signal}`;
  if (r.exitCode === null) return 'could not be started';
  return `exit code ${r.exitCode}`;
}
