// run.memory for local processes. No cgroup is assumed (many hosts and CI
// containers have none to give), so the resident memory of the instance's process
// group is read from /proc each second, and beyond the limit the group is killed,
// as the kernel's OOM killer would, with a record in the instance's log saying why:
// that log's last lines are what the deploy or the status shows for the exit.

import { appendFileSync, readFileSync, readdirSync } from 'node:fs';

// The page size is fixed by the Linux ABI on the machines we run on.
const PAGE_SIZE_BYTES = 4096;

export interface MemoryWatchOptions {
  /** The instance's process group (its leader's pid). */
  pgid: number;
  limitBytes: number;
  instanceId: string;
  logPath: string;
  logTags?: { env: string; release: number };
  isAlive(): boolean;
  intervalMs?: number;
}

/** Starts watching; the returned function stops it. It stops by itself once the instance is gone or killed. */
export function watchMemory(o: MemoryWatchOptions): () => void {
  const timer = setInterval(() => {
    if (!o.isAlive()) return clearInterval(timer);
    const usedBytes = groupRssBytes(o.pgid);
    if (usedBytes <= o.limitBytes) return;
    clearInterval(timer);
    const msg = `slipway: killed instance ${o.instanceId}: its processes used ${mib(usedBytes)} of memory, above run.memory ${mib(o.limitBytes)}`;
    try {
      appendFileSync(o.logPath, `${JSON.stringify({ ts: Date.now(), env: o.logTags?.env ?? '', release: o.logTags?.release ?? null, instance: o.instanceId, stream: 'relay', level: 'error', msg })}\n`);
    } catch {
      // the kill matters more than the record
    }
    try {
      process.kill(-o.pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, o.intervalMs ?? 1000);
  timer.unref();
  return () => clearInterval(timer);
}

const mib = (bytes: number) => `${Math.round(bytes / 1024 / 1024)} MiB`;

/** The summed resident memory of every process in a process group. */
export function groupRssBytes(pgid: number): number {
  let pages = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const text = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // After the command name: state, ppid, pgrp ... rss is the 22nd field from there.
      const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
      if (Number(f[2]) === pgid) pages += Number(f[21]);
    } catch {
      // gone
    }
  }
  return pages * PAGE_SIZE_BYTES;
}
