// The service directory a command run somewhere inside it means: the nearest
// directory, from the current one up, that holds slipway.yaml, as git and npm find
// their project from a subdirectory. The walk stops at a repository's top (a
// directory with `.git`), so a slipway.yaml above the repository is never taken.

import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CONFIG_FILE_NAME } from '../config/index.ts';

/** The directory holding slipway.yaml, from `start` (default: the current directory) up; null when none is found. */
export function findServiceDir(start: string = process.cwd()): string | null {
  let dir = resolve(start);
  for (;;) {
    if (existsSync(join(dir, CONFIG_FILE_NAME))) return dir;
    const parent = dirname(dir);
    if (parent === dir || existsSync(join(dir, '.git'))) return null;
    dir = parent;
  }
}

/**
 * `dir` as given, unless it is the default (`.`) and holds no slipway.yaml while a
 * directory above it does: then that one. `note` is told when it is another.
 */
export function serviceDirFor(dir: string, o: { isDefault: boolean; note?: (s: string) => void }): string {
  if (!o.isDefault || existsSync(join(resolve(dir), CONFIG_FILE_NAME))) return dir;
  const found = findServiceDir(dir);
  if (found === null) return dir;
  o.note?.(`using ${join(found, CONFIG_FILE_NAME)}: the service directory is ${found}`);
  return found;
}
