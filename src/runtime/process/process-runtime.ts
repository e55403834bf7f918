// Instances as local processes. Each runs in its own process group (so a stop
// reaches its children too), and, when the server is root, as its environment's own
// unprivileged user (run-identity.ts). A stop also ends what left the group (a
// setsid child): every process carrying the instance's SLIPWAY_INSTANCE. Its
// output goes through a log relay (a process of its own, started beside it) that
// masks its secrets and appends to its log file, so it keeps running and logging
// when the server dies: nothing of the instance passes through the server.

import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SlipwayError } from '../../core/errors.ts';
import type { ResourceLimits } from '../../core/service-config.ts';
import type { InstanceHandle, ResourceUsage, Runtime, StartSpec, StopOptions } from '../../core/ports/runtime.ts';
import { watchMemory } from './memory-watch.ts';
import { readyAppDataDir } from './app-data-access.ts';
import { carriesMarker, markedProcesses } from './marked-processes.ts';
import { assertRunUserPossible, prepareRunIdentity } from './run-identity.ts';

// USER_HZ and the page size are fixed by the Linux ABI on the machines we run on.
const CLOCK_TICKS_PER_SECOND = 100;
const PAGE_SIZE_BYTES = 4096;

interface ProcStat {
  state: string;
  startTime: string;
}

/** /proc/PID/stat's state and start time; null when the process is gone. */
function readProcStat(pid: number): ProcStat | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '?', startTime: fields[19] ?? '' };
  } catch {
    return null;
  }
}

/** The process group of a pid, from /proc (field 5 of stat); -1 when unknown. */
function getpgid(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[2]);
  } catch {
    return -1;
  }
}

/** The real uid of a pid, from /proc; null when it is gone. */
function procUid(pid: number): number | null {
  try {
    const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

function hasProcFs(): boolean {
  return readProcStat(process.pid) !== null;
}

export interface ProcessRuntimeOptions {
  /**
   * How to start the log relay (argv before its own arguments). Without one an
   * instance writes straight to its log file, which is refused when it has secrets.
   */
  logRelay?: string[];
}

/** Only what a relay needs to run; it never sees the instance's environment. */
const RELAY_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];

function spawned(child: ChildProcess, what: string, instanceId: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    child.once('spawn', () => resolve(child.pid!));
    child.once('error', (e) => reject(new SlipwayError('E_INSTANCE_FAILED', `cannot start ${what}: ${e.message}`, { instance: instanceId }, { cause: e })));
  });
}

/**
 * Variables an instance inherits from the server; everything else it gets is explicit.
 * Not HOME nor TMPDIR: those are the server's, and the process runtime gives the
 * instance its own.
 */
const INHERITED_ENV = ['PATH', 'LANG', 'LC_ALL', 'TZ'];

// What execvp falls back to when PATH is unset: giving PATH must not lose it.
const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin';

/**
 * The release's own node_modules/.bin first on PATH, as `npm run` does, so that
 * `run.command: json-server db.json` finds the release's json-server. spawn looks a
 * bare program name up on the PATH of the environment it is given, so this one
 * change reaches both the lookup and whatever the program starts.
 */
export function withReleaseBinOnPath(env: Record<string, string>, releaseDir: string): Record<string, string> {
  const bin = join(releaseDir, 'node_modules', '.bin');
  return { ...env, PATH: `${bin}${delimiter}${env.PATH || DEFAULT_PATH}` };
}

export class ProcessRuntime implements Runtime {
  readonly name = 'process' as const;

  assertCanRun(spec: { user?: string | undefined }): void {
    assertRunUserPossible(spec.user);
  }

  /** A container has its image's PATH and locale; a local process inherits the server's, and nothing else of its environment. */
  baseEnv(): Record<string, string> {
    const env: Record<string, string> = {};
    for (const k of INHERITED_ENV) if (process.env[k] !== undefined) env[k] = process.env[k]!;
    return env;
  }

  /** run.memory alone: a process's CPU is not limited here (a container runtime takes `resources:`). */
  limitsOf(o: { runMemoryBytes: number | null }): ResourceLimits | null {
    return o.runMemoryBytes === null ? null : { memoryBytes: o.runMemoryBytes, cpus: null };
  }
  private readonly procFs = hasProcFs();
  /** Relays this server started, until they exit: how flushOutput knows a log is complete. */
  private readonly relays = new Map<string, Promise<void>>();

  constructor(private readonly opts: ProcessRuntimeOptions = {}) {}

  async start(spec: StartSpec): Promise<InstanceHandle> {
    const [command, ...args] = spec.argv;
    if (!command) throw new SlipwayError('E_INSTANCE_FAILED', 'run.command is empty');
    if (!this.opts.logRelay && spec.redact.length > 0) {
      throw new SlipwayError('E_INSTANCE_FAILED', `instance ${spec.instanceId} has secrets, and this runtime has no log relay to keep them out of its log`);
    }
    // Before anything is started: a run.user this server cannot honour fails the start here.
    const identity = spec.envDir ? prepareRunIdentity({ envDir: spec.envDir, releaseDir: spec.releaseDir, user: spec.user }) : null;
    // HOME and TMPDIR are the instance's own, never the server's; slipway.yaml's config may still set them.
    const env = withReleaseBinOnPath(identity ? { HOME: identity.home, TMPDIR: identity.tmp, ...spec.env } : spec.env, spec.releaseDir);
    if (spec.appDataDir !== undefined) readyAppDataDir(spec.appDataDir, { uid: identity?.uid ?? null, gid: identity?.gid ?? null });
    const runAs = identity && identity.uid !== null && identity.gid !== null ? { uid: identity.uid, gid: identity.gid } : {};
    mkdirSync(dirname(spec.logPath), { recursive: true });
    const fd = openSync(spec.logPath, 'a');
    let relay: ChildProcess | null = null;
    try {
      relay = this.opts.logRelay ? await this.startRelay(spec, fd) : null;
      const output = relay ? (relay.stdin as Writable) : fd;
      const errors = relay ? (relay.stdio[4] as Writable) : fd;
      const child = spawn(command, args, {
        cwd: spec.releaseDir,
        env,
        ...runAs, // node drops the server's supplementary groups with it
        detached: true, // its own process group; survives us
        stdio: ['ignore', output, errors],
      });
      const pid = await spawned(child, `"${spec.argv.join(' ')}" in ${spec.releaseDir}`, spec.instanceId);
      child.unref();
      const handle = { pid, procStart: this.procFs ? readProcStat(pid)?.startTime ?? null : null, ref: null };
      const limitBytes = spec.resources?.memoryBytes ?? null;
      if (limitBytes !== null && this.procFs) {
        watchMemory({ pgid: pid, limitBytes, instanceId: spec.instanceId, logPath: spec.logPath, logTags: spec.logTags, isAlive: () => this.isAlive(handle) });
      }
      return handle;
    } finally {
      // The instance holds its own copy of the pipe now: ours must close, or the
      // relay would never see the end of its input.
      relay?.stdin?.destroy();
      (relay?.stdio[4] as Writable | undefined)?.destroy();
      closeSync(fd);
    }
  }

  /** The relay, started before the instance, reading a pipe the instance will write to. */
  private async startRelay(spec: StartSpec, logFd: number): Promise<ChildProcess> {
    const [node, ...args] = this.opts.logRelay!;
    const env: Record<string, string> = { SLIPWAY_LOG_RELAY_FOR: spec.instanceId };
    for (const k of RELAY_ENV) if (process.env[k] !== undefined) env[k] = process.env[k]!;
    const tags = ['--instance', spec.instanceId, ...(spec.logTags ? ['--env', spec.logTags.env, '--release', String(spec.logTags.release)] : [])];
    const limits = spec.logLimits ? ['--max-file-bytes', String(spec.logLimits.maxFileBytes), '--max-files', String(spec.logLimits.maxFiles)] : [];
    const relay = spawn(node!, [...args, '--log', spec.logPath, ...tags, ...limits, '--stderr-fd', '4'], {
      cwd: dirname(spec.logPath),
      env,
      detached: true, // a process group of its own: a stop signal to the instance's group does not reach it
      // stdin: the instance's stdout; stderr: the relay's own troubles, into the same log; fd 3: what to
      // mask; fd 4: the instance's stderr.
      stdio: ['pipe', 'ignore', logFd, 'pipe', 'pipe'],
    });
    const masks = relay.stdio[3] as Socket;
    // A relay that could not start (its node binary removed, no process to spare) has
    // no reader on this pipe: the write fails with EPIPE. The start fails on the spawn
    // error below; this one, unheard, would end the server.
    masks.on('error', () => undefined);
    // Closed once written, and never holding the server's event loop open (a
    // server stopping with instances still running must be able to exit).
    masks.end(JSON.stringify({ redact: spec.redact }), () => masks.destroy());
    masks.unref();
    await spawned(relay, 'the log relay', spec.instanceId);
    relay.unref();
    const exited = new Promise<void>((resolve) => relay.once('exit', () => resolve()));
    this.relays.set(spec.instanceId, exited);
    void exited.then(() => this.relays.delete(spec.instanceId));
    return relay;
  }

  async flushOutput(instanceId: string, timeoutMs: number): Promise<void> {
    const exited = this.relays.get(instanceId);
    if (!exited) return; // straight to the file, or a relay a previous server started
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs).unref()))]);
    clearTimeout(timer);
  }

  async isRunning(handle: InstanceHandle): Promise<boolean> {
    return this.isAlive(handle);
  }

  private isAlive(handle: InstanceHandle): boolean {
    if (this.procFs) {
      const stat = readProcStat(handle.pid);
      if (!stat || stat.state === 'Z' || stat.state === 'X') return false;
      return handle.procStart === null || stat.startTime === handle.procStart;
    }
    try {
      process.kill(handle.pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  async usage(handle: InstanceHandle): Promise<ResourceUsage | null> {
    if (!this.procFs || !this.isAlive(handle)) return null;
    try {
      const fields = readFileSync(`/proc/${handle.pid}/stat`, 'utf8');
      const f = fields.slice(fields.lastIndexOf(')') + 2).split(' ');
      // utime and stime are fields 14 and 15, in clock ticks (USER_HZ, 100 on Linux).
      const ticks = Number(f[11]) + Number(f[12]);
      const statm = readFileSync(`/proc/${handle.pid}/statm`, 'utf8').split(' ');
      return { cpuSeconds: ticks / CLOCK_TICKS_PER_SECOND, rssBytes: Number(statm[1]) * PAGE_SIZE_BYTES };
    } catch {
      return null;
    }
  }

  async findById(instanceId: string): Promise<InstanceHandle | null> {
    if (!this.procFs) return null;
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const environ = readFileSync(`/proc/${entry}/environ`, 'utf8');
        // The group leader is the process we spawned; its children inherit the variable too.
        if (!carriesMarker(environ, 'SLIPWAY_INSTANCE', instanceId)) continue;
        const pid = Number(entry);
        const stat = readProcStat(pid);
        if (!stat || stat.state === 'Z') continue;
        if (getpgid(pid) === pid) return { pid, procStart: stat.startTime, ref: null };
      } catch {
        // gone, or not ours to read
      }
    }
    return null;
  }

  async stop(handle: InstanceHandle, opts: StopOptions): Promise<{ killed: boolean }> {
    // Read while it runs: a leftover is ended only if it runs as the instance did.
    const uid = this.procFs && this.isAlive(handle) ? procUid(handle.pid) : null;
    const killed = await this.stopGroup(handle, opts.killTimeoutMs);
    if (opts.instanceId && this.procFs) await this.stopLeftovers(opts.instanceId, uid, opts.killTimeoutMs);
    return { killed };
  }

  private async stopGroup(handle: InstanceHandle, killTimeoutMs: number): Promise<boolean> {
    if (!this.isAlive(handle)) return false;
    signalGroup(handle.pid, 'SIGTERM');
    const deadline = Date.now() + killTimeoutMs;
    while (Date.now() < deadline) {
      if (!this.isAlive(handle)) return false;
      await sleep(25);
    }
    signalGroup(handle.pid, 'SIGKILL');
    for (let i = 0; i < 200 && this.isAlive(handle); i++) await sleep(10);
    return true;
  }

  /**
   * What of the instance's session outlived its group (children started with
   * setsid, or double-forked): found by the marker every one of them inherited, and
   * stopped as the group was, SIGTERM then SIGKILL. A process that rewrote its own
   * environment escapes this; it still runs only as its environment's user.
   */
  private async stopLeftovers(instanceId: string, uid: number | null, killTimeoutMs: number): Promise<void> {
    let left = this.leftovers(instanceId, uid);
    if (left.length === 0) return;
    for (const h of left) signalGroupOrPid(h.pid, 'SIGTERM');
    const deadline = Date.now() + killTimeoutMs;
    while (Date.now() < deadline && (left = left.filter((h) => this.isAlive(h))).length > 0) await sleep(25);
    for (const h of left) signalGroupOrPid(h.pid, 'SIGKILL');
    for (let i = 0; i < 200 && left.some((h) => this.isAlive(h)); i++) await sleep(10);
  }

  private leftovers(instanceId: string, uid: number | null): InstanceHandle[] {
    return markedProcesses('SLIPWAY_INSTANCE', instanceId, uid).map((p) => ({ pid: p.pid, procStart: p.startTime, ref: null }));
  }
}

/** A leftover that leads its own group (setsid) takes its group with it, marked or not. */
function signalGroupOrPid(pid: number, signal: NodeJS.Signals): void {
  if (getpgid(pid) === pid) signalGroup(pid, signal);
  else {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}
