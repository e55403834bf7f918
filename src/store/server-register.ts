// The machine's register of running slipway servers, per user: how the CLI in a
// service's directory finds the one server that runs every service on the host
// when that directory holds none (README, "Several services on one server").
//
// An entry names only a data directory. Everything the CLI then uses (the URL in
// server.json, the admin token) is read from that data directory, as with
// --data-dir, so an entry can point the CLI nowhere it could not be pointed by
// hand. Even so, only entries this user wrote in a directory only this user can
// write are believed: in a shared /tmp, another user's entry could otherwise send
// this user's deploys (their code) to a server of theirs.
//
// Where: $SLIPWAY_RUNTIME_DIR; else /run/slipway/servers for root; else
// $XDG_RUNTIME_DIR/slipway/servers; else <tmpdir>/slipway-<uid>/servers.

import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeFileAtomicSync } from '../platform/atomic-file.ts';

export interface RegisteredServer {
  /** The data directory, absolute. */
  dataDir: string;
  pid: number;
  /** From the data directory's server.json, not from the entry. */
  url: string;
}

export function serverRegisterDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SLIPWAY_RUNTIME_DIR) return join(resolve(env.SLIPWAY_RUNTIME_DIR), 'servers');
  const uid = process.getuid?.() ?? -1;
  if (uid === 0) return '/run/slipway/servers';
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'slipway', 'servers');
  return join(tmpdir(), `slipway-${uid}`, 'servers');
}

/** A directory (and its parent) this user owns and nobody else may write; else why not. */
function untrusted(dir: string): string | null {
  const uid = process.getuid?.();
  for (const d of [join(dir, '..'), dir]) {
    let st;
    try {
      st = lstatSync(d);
    } catch (e) {
      return (e as Error).message;
    }
    if (!st.isDirectory()) return `${d} is not a directory`;
    if (uid !== undefined && st.uid !== uid) return `${d} belongs to uid ${st.uid}, not ${uid}`;
    if ((st.mode & 0o022) !== 0) return `${d} may be written by others (mode ${(st.mode & 0o777).toString(8)})`;
  }
  return null;
}

function entryName(dataDir: string): string {
  return `${createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 16)}.json`;
}

/**
 * Records this server's data directory in the register. Returns a function that
 * takes the entry back (only if it is still this process's), and the reason when
 * the register could not be written: the server runs either way, and the CLI
 * then finds it only by --data-dir.
 */
export function registerServer(dataDir: string, pid = process.pid, env: NodeJS.ProcessEnv = process.env): { unregister: () => void; problem: string | null } {
  const dir = serverRegisterDir(env);
  const file = join(dir, entryName(dataDir));
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const why = untrusted(dir);
    if (why) return { unregister: () => undefined, problem: `the register of running servers ${dir} is not used: ${why}` };
    writeFileAtomicSync(file, JSON.stringify({ dataDir: resolve(dataDir), pid }), { mode: 0o600 });
  } catch (e) {
    return { unregister: () => undefined, problem: `the register of running servers ${dir} cannot be written: ${(e as Error).message}` };
  }
  return {
    problem: null,
    unregister: () => {
      try {
        const entry = JSON.parse(readFileSync(file, 'utf8')) as { pid?: number };
        if (entry.pid === pid) rmSync(file, { force: true });
      } catch {
        // gone already
      }
    },
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The servers of this user running now, by data directory. An entry whose process
 * is gone, or whose data directory's server.json names another process, is left
 * out (a server killed with -9 leaves its entry behind).
 */
export function runningServers(env: NodeJS.ProcessEnv = process.env): RegisteredServer[] {
  const dir = serverRegisterDir(env);
  if (untrusted(dir)) return [];
  const uid = process.getuid?.();
  const found: RegisteredServer[] = [];
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json')).sort();
  } catch {
    return [];
  }
  for (const name of names) {
    try {
      const path = join(dir, name);
      const st = lstatSync(path);
      if (!st.isFile() || (uid !== undefined && st.uid !== uid)) continue;
      const entry = JSON.parse(readFileSync(path, 'utf8')) as { dataDir?: unknown; pid?: unknown };
      if (typeof entry.dataDir !== 'string' || typeof entry.pid !== 'number' || !isAlive(entry.pid)) continue;
      const info = JSON.parse(readFileSync(join(entry.dataDir, 'server.json'), 'utf8')) as { pid?: unknown; url?: unknown };
      if (info.pid !== entry.pid || typeof info.url !== 'string') continue;
      found.push({ dataDir: entry.dataDir, pid: entry.pid, url: info.url });
    } catch {
      // a half-written or foreign entry: not a server to talk to
    }
  }
  return found;
}
