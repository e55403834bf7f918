// Processes found by a marker variable every one of them inherited from the process
// slipway started (SLIPWAY_INSTANCE for an instance, SLIPWAY_PIPELINE_COMMAND for a
// release run's command): how what left its process group (setsid, a double fork)
// is still found and stopped. Read from /proc as root. A process that rewrote its own
// environment escapes this; it still runs only as its own uid.

import { readdirSync, readFileSync } from 'node:fs';

/** Whether an environment (/proc/PID/environ) holds `name=value` as a variable of its own. */
export function carriesMarker(environ: string, name: string, value: string): boolean {
  const marker = `${name}=${value}\0`;
  return environ.startsWith(marker) || environ.includes(`\0${marker}`);
}

/** Live (not zombie) processes carrying `name=value`, other than this one; with `uid`, only those whose real uid it is. */
export function markedProcesses(name: string, value: string, uid: number | null): { pid: number; startTime: string }[] {
  const found: { pid: number; startTime: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (!carriesMarker(readFileSync(`/proc/${entry}/environ`, 'utf8'), name, value)) continue;
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      if (/^State:\s+Z/m.test(status)) continue;
      if (uid !== null && /^Uid:\s+(\d+)/m.exec(status)?.[1] !== String(uid)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
      found.push({ pid: Number(entry), startTime: stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '' });
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}
