// Instances as local processes. Each runs in its own process group (so a stop
// reaches its children too) and writes straight to its log file, so it keeps running
// and logging when the server dies: nothing of the instance passes through us.

import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SlipwayError } from '../../core/errors.ts';
import type { InstanceHandle, ResourceUsage, Runtime, StartSpec, StopOptions } from '../runtime.ts';

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

function hasProcFs(): boolean {
  return readProcStat(process.pid) !== null;
}

export class ProcessRuntime implements Runtime {
  readonly name = 'process';
  private readonly procFs = hasProcFs();

  async start(spec: StartSpec): Promise<InstanceHandle> {
    const [command, ...args] = spec.argv;
    if (!command) throw new SlipwayError('E_INSTANCE_FAILED', 'run.command is empty');
    mkdirSync(dirname(spec.logPath), { recursive: true });
    const fd = openSync(spec.logPath, 'a');
    try {
      const child = spawn(command, args, {
        cwd: spec.releaseDir,
        env: spec.env,
        detached: true, // its own process group; survives us
        stdio: ['ignore', fd, fd],
      });
      const pid = await new Promise<number>((resolve, reject) => {
        child.once('spawn', () => resolve(child.pid!));
        child.once('error', (e) =>
          reject(new SlipwayError('E_INSTANCE_FAILED', `cannot start "${spec.argv.join(' ')}" in ${spec.releaseDir}: ${e.message}`, { instance: spec.instanceId }, { cause: e })),
        );
      });
      child.unref();
      return { pid, procStart: this.procFs ? readProcStat(pid)?.startTime ?? null : null };
    } finally {
      closeSync(fd);
    }
  }

  isRunning(handle: InstanceHandle): boolean {
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

  usage(handle: InstanceHandle): ResourceUsage | null {
    if (!this.procFs || !this.isRunning(handle)) return null;
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

  findById(instanceId: string): InstanceHandle | null {
    if (!this.procFs) return null;
    const marker = `SLIPWAY_INSTANCE=${instanceId}\0`;
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const environ = readFileSync(`/proc/${entry}/environ`, 'utf8');
        // The group leader is the process we spawned; its children inherit the variable too.
        if (!environ.includes(marker)) continue;
        const pid = Number(entry);
        const stat = readProcStat(pid);
        if (!stat || stat.state === 'Z') continue;
        if (getpgid(pid) === pid) return { pid, procStart: stat.startTime };
      } catch {
        // gone, or not ours to read
      }
    }
    return null;
  }

  async stop(handle: InstanceHandle, opts: StopOptions): Promise<{ killed: boolean }> {
    if (!this.isRunning(handle)) return { killed: false };
    signalGroup(handle.pid, 'SIGTERM');
    const deadline = Date.now() + opts.killTimeoutMs;
    while (Date.now() < deadline) {
      if (!this.isRunning(handle)) return { killed: false };
      await sleep(25);
    }
    signalGroup(handle.pid, 'SIGKILL');
    for (let i = 0; i < 200 && this.isRunning(handle); i++) await sleep(10);
    return { killed: true };
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
