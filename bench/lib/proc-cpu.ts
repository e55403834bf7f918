// CPU time of a process from /proc/PID/stat (Linux), for "CPU per request" figures.

import { readFileSync } from 'node:fs';

/** Clock ticks per second of utime/stime in /proc (USER_HZ; 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** User + system CPU time used so far by `pid`, in microseconds. */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces; fields after its ')' are fixed.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1_000_000) / TICKS_PER_SECOND;
}

/** The direct children of a process (e.g. nginx workers of their master). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** CPU time of `pid` and its direct children (a router's keeper and its workers), in microseconds; a child gone meanwhile counts 0. */
export function treeCpuMicros(pid: number): number {
  return [pid, ...childPids(pid)].reduce((sum, p) => {
    try {
      return sum + cpuMicros(p);
    } catch {
      return sum;
    }
  }, 0);
}
