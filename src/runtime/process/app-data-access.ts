// Readies an environment's data directory (SLIPWAY_APP_DATA) for the instance that
// is about to start. When the server is root, the instance's user owns the
// directory itself (0700) and nothing above it: app-data/ and app-data/<service>
// stay root's, passable by the instances' group only (0710), so no instance can
// swap its directory for a symlink to somewhere else, nor list another service's.
// Its contents are the instance's own business and are never walked or chowned.

import { chmodSync, lchownSync, lstatSync, mkdirSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { SlipwayError } from '../../core/errors.ts';

function assertDirectory(dir: string): Stats {
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new SlipwayError('E_UNSAFE_PATH', `${dir} is not a directory (a symlink?); remove it and deploy again`, { path: dir });
  return st;
}

export function readyAppDataDir(dir: string, owner: { uid: number | null; gid: number | null }): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (owner.uid === null || owner.gid === null) {
    assertDirectory(dir);
    return;
  }
  for (const parent of [dirname(dirname(dir)), dirname(dir)]) {
    const st = assertDirectory(parent);
    if (st.uid !== 0 || st.gid !== owner.gid) lchownSync(parent, 0, owner.gid);
    if ((st.mode & 0o7777) !== 0o710) chmodSync(parent, 0o710);
  }
  const st = assertDirectory(dir);
  // A new uid for the environment (run.user changed) takes the directory over; files
  // inside keep their owner, which the docs tell the admin to chown.
  if (st.uid !== owner.uid || st.gid !== owner.gid) lchownSync(dir, owner.uid, owner.gid);
  if ((st.mode & 0o7777) !== 0o700) chmodSync(dir, 0o700);
}
