// Setting a release tree's times (engine: a release that serves again must look
// newer to caches than the one it replaces). `find -exec touch -h`: links are
// touched themselves, never followed, and run as the tree's owner on a root
// server, so root never walks a tree that user can change.

import { spawnSync } from 'node:child_process';

/** Every file, directory and link under `dir` gets the time `at` (whole seconds), as `as` when given. */
export function touchTreeAs(dir: string, at: Date, as: { uid: number; gid: number } | null): void {
  const stamp = `@${Math.floor(at.getTime() / 1000)}`;
  const r = spawnSync('find', [dir, '-exec', 'touch', '-h', '-c', '-d', stamp, '{}', '+'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000, ...(as ?? {}) });
  if (r.error || r.status !== 0) {
    const said = r.error?.message ?? (r.stderr.toString().trim().split('\n').at(-1) || `exit ${r.status}`);
    throw new Error(`could not set the times of ${dir}: ${said}`);
  }
}
