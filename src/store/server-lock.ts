// One server per data directory. The lock is an exclusive SQLite lock on a file of
// its own: the OS holds it for us and drops it when the process dies, even by
// kill -9, so there is no stale lock to guess about and no race between two starts.

import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { SlipwayError } from '../core/errors.ts';

export function acquireServerLock(path: string, dataDir: string): () => void {
  const db = new Database(path, { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
  } catch (e) {
    db.close();
    const holder = readHolder(`${path}.pid`);
    throw new SlipwayError(
      'E_DATA_DIR_LOCKED',
      `another slipway server${holder ? ` (pid ${holder})` : ''} is already running on ${dataDir}; use it (slipway status), stop it, or start this one with another --data-dir`,
      { pid: holder, dataDir },
      { cause: e },
    );
  }
  writeFileSync(`${path}.pid`, String(process.pid));
  return () => {
    rmSync(`${path}.pid`, { force: true });
    try {
      db.exec('ROLLBACK');
    } finally {
      db.close();
    }
  };
}

function readHolder(pidFile: string): number | null {
  try {
    const n = Number(readFileSync(pidFile, 'utf8'));
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}
