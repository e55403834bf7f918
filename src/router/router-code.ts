// Which router code a process runs, as a digest of its files. A router program is
// named by its entry file: the bundled router-main.js when slipway runs from its
// bundle (bin/launch.js), else router-main.ts, whose code is the TypeScript sources
// the router is made of (src/router and src/core). The keeper digests the entry its
// workers are forked from; a server digests the entry it would start now. When they
// differ (slipway was upgraded, or its sources changed), the server has the keeper
// fork workers from the server's entry and retire the old ones with no gap
// (router-workers.ts).

import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { entryCommand } from '../platform/entry-point.ts';
import { SlipwayError } from '../core/errors.ts';

/** How to run a router: node's options, then the entry file (absolute). */
export interface RouterProgram {
  execArgv: string[];
  entry: string;
}

/** The router program this process would start now (from its bundle, or through tsx). */
export function routerProgram(): RouterProgram {
  const [, ...args] = entryCommand('router-main', new URL('./router-main.ts', import.meta.url));
  return { execArgv: args.slice(0, -1), entry: args[args.length - 1]! };
}

/** sha256 of the code of the router whose entry file is `entry` (16 hex digits). */
export function routerCodeDigest(entry: string): string {
  const hash = createHash('sha256');
  if (entry.endsWith('.js')) {
    hash.update(readFileSync(entry));
  } else {
    const src = dirname(dirname(entry));
    for (const file of [...sourceFiles(join(src, 'router')), ...sourceFiles(join(src, 'core'))]) {
      hash.update(file).update('\0').update(readFileSync(file)).update('\0');
    }
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * A program named in an upgrade request, which the keeper will run: node options of
 * one of the two shapes a server sends (`--enable-source-maps` for the bundle, or
 * `--import <tsx loader file URL>`), and an absolute router-main.js or
 * router-main.ts. Every file it names must be code only this user (or root) could
 * have put there: a regular file, owned by this user or root, that no other user
 * may change, in a directory no other user may change. So the admin secret alone
 * cannot make the router run code from a scratch directory such as /tmp.
 */
export function parseRouterProgram(value: unknown): RouterProgram {
  const p = value as { execArgv?: unknown; entry?: unknown } | null;
  if (p === null || typeof p !== 'object' || typeof p.entry !== 'string' || !Array.isArray(p.execArgv) || !p.execArgv.every((a) => typeof a === 'string')) {
    throw new SlipwayError('E_BAD_REQUEST', 'program must be {"execArgv": [strings], "entry": "/absolute/path/router-main.js"}');
  }
  if (!isAbsolute(p.entry) || !/^router-main\.(js|ts)$/.test(basename(p.entry)) || !existsSync(p.entry)) {
    throw new SlipwayError('E_BAD_REQUEST', `program.entry must be an existing absolute path to router-main.js or router-main.ts, got ${JSON.stringify(p.entry)}`);
  }
  const execArgv = p.execArgv as string[];
  const bundle = execArgv.length === 1 && execArgv[0] === '--enable-source-maps';
  const loader = execArgv.length === 2 && execArgv[0] === '--import' && execArgv[1]!.startsWith('file:///') ? fileURLToPath(execArgv[1]!) : null;
  if (!bundle && loader === null) {
    throw new SlipwayError('E_BAD_REQUEST', `program.execArgv must be ["--enable-source-maps"] or ["--import", "file:///…/loader.mjs"], got ${JSON.stringify(execArgv).slice(0, 200)}`);
  }
  assertOwnCode(p.entry, 'program.entry');
  if (loader !== null) assertOwnCode(loader, 'the --import loader');
  return { execArgv, entry: p.entry };
}

/** Refuses a file of code that another user could have written or could change. */
function assertOwnCode(path: string, what: string): void {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  for (const [target, kind] of [[path, 'file'], [dirname(path), 'directory']] as const) {
    let st;
    try {
      st = lstatSync(target);
    } catch {
      throw new SlipwayError('E_BAD_REQUEST', `${what}: ${target} cannot be read`);
    }
    if (kind === 'file' ? !st.isFile() : !st.isDirectory()) throw new SlipwayError('E_BAD_REQUEST', `${what}: ${target} must be a ${kind} (not a symlink)`);
    if (st.uid !== uid && st.uid !== 0) throw new SlipwayError('E_BAD_REQUEST', `${what}: ${target} belongs to uid ${st.uid}, not to this user (${uid}) or root; the router runs only its own installation's code`);
    // Group-writable is allowed only for the user's own group (a umask of 002).
    if ((st.mode & 0o002) !== 0 || ((st.mode & 0o020) !== 0 && st.gid !== gid)) {
      throw new SlipwayError('E_BAD_REQUEST', `${what}: ${target} may be changed by other users (mode ${(st.mode & 0o777).toString(8)}); the router runs only code they cannot change`);
    }
  }
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(path));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}
