// What runs on this machine, read from /proc: for tests that check what a command
// left behind (a pipeline user's daemons, say).

import { readFileSync, readdirSync } from 'node:fs';

/** Live processes whose real uid is `uid` and whose command line has `marker`. */
export function processesOf(uid: number, marker: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      if (/^State:\s+Z/m.test(status) || /^Uid:\s+(\d+)/m.exec(status)?.[1] !== String(uid)) continue;
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker)) out.push(Number(pid));
    } catch {
      // gone
    }
  }
  return out;
}
