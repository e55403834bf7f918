// System calls per request of a proxy's processes, counted with `strace -c -f` while
// a load runs (Linux; `apt-get install -y strace`). strace slows what it traces many
// times over, so this is a run of its own, never one of the timed ones: the counts
// per request hold, the speed does not.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const STRACE_BIN = '/usr/bin/strace';

export function hasStrace(): boolean {
  return existsSync(STRACE_BIN);
}

export interface SyscallCount {
  /** Every system call of the traced processes, divided by the requests the load made. */
  perRequest: number;
  /** The same, per call name, most frequent first. */
  byCall: [name: string, perRequest: number][];
}

/**
 * Traces `pids` (and the threads they start) while `load` runs; `load` resolves with
 * the number of requests it made. strace is attached before the load starts and
 * detached after it ends, so every request's calls are counted.
 */
export async function countSyscalls(pids: number[], load: () => Promise<number>): Promise<SyscallCount> {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-strace-'));
  const out = join(dir, 'strace.txt');
  try {
    const strace = spawn(STRACE_BIN, ['-c', '-f', '-o', out, ...pids.flatMap((p) => ['-p', String(p)])], { stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<void>((resolve) => strace.once('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      let attached = 0;
      let err = '';
      strace.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        attached = (err.match(/attached/g) ?? []).length;
        if (attached >= pids.length) resolve();
      });
      strace.once('exit', (code) => reject(new Error(`strace exited (code ${code}) before attaching: ${err.trim()}`)));
    });
    const requests = await load();
    strace.kill('SIGINT');
    await exited;
    return parseStraceSummary(readFileSync(out, 'utf8'), requests);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The table `strace -c` writes: % time, seconds, usecs/call, calls, [errors,] syscall. */
function parseStraceSummary(text: string, requests: number): SyscallCount {
  const byCall: [string, number][] = [];
  let total = 0;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || !/^\d/.test(f[0]!)) continue;
    const name = f[f.length - 1]!;
    const calls = Number(f[3]);
    if (name === 'total' || !Number.isFinite(calls)) continue;
    total += calls;
    byCall.push([name, calls / Math.max(1, requests)]);
  }
  byCall.sort((a, b) => b[1] - a[1]);
  return { perRequest: total / Math.max(1, requests), byCall };
}
