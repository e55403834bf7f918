// The retention limit of instance logs as a whole: logs of instances that no
// longer run are deleted once older than maxAgeMs, and the oldest of them first
// while all logs together are over maxTotalBytes. A running instance's log is
// never deleted here (its own rotation bounds it).

import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface RetentionOptions {
  logsDir: string;
  /** Base log paths (x.log) of instances that may be running. */
  livePaths: Set<string>;
  maxTotalBytes: number;
  maxAgeMs: number;
  now: number;
}

export const DEFAULT_RETENTION = { maxTotalBytes: 2 * 1024 ** 3, maxAgeMs: 14 * 24 * 3600_000 };

/** Deletes what is past the limits; returns the files deleted. */
export function pruneInstanceLogs(o: RetentionOptions): string[] {
  const files: { path: string; base: string; bytes: number; mtimeMs: number }[] = [];
  let envs: string[] = [];
  try {
    envs = readdirSync(o.logsDir);
  } catch {
    return [];
  }
  for (const env of envs) {
    let names: string[] = [];
    try {
      names = readdirSync(join(o.logsDir, env));
    } catch {
      continue;
    }
    for (const name of names) {
      const m = /^(.*\.log)(\.\d+)?$/.exec(name);
      if (!m) continue;
      const path = join(o.logsDir, env, name);
      try {
        const st = statSync(path);
        files.push({ path, base: join(o.logsDir, env, m[1]!), bytes: st.size, mtimeMs: st.mtimeMs });
      } catch {
        // gone meanwhile
      }
    }
  }
  let total = files.reduce((n, f) => n + f.bytes, 0);
  const deletable = files.filter((f) => !o.livePaths.has(f.base)).sort((a, b) => a.mtimeMs - b.mtimeMs);
  const deleted: string[] = [];
  for (const f of deletable) {
    if (total <= o.maxTotalBytes && o.now - f.mtimeMs <= o.maxAgeMs) continue;
    rmSync(f.path, { force: true });
    total -= f.bytes;
    deleted.push(f.path);
  }
  return deleted;
}
