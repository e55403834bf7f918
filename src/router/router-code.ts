// Which router code a process runs, as a digest of its files: the bundled
// router-main.js when slipway runs from its bundle, else the TypeScript sources the
// router is made of (src/router and src/core). The router's keeper records the digest
// when it forks its workers; a server started after an upgrade compares it with the
// code on disk and, when they differ, has the keeper replace its workers with no gap
// (router-workers.ts).

import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { entryCommand } from '../platform/entry-point.ts';

/** sha256 of the router's code as it is on disk now (16 hex digits). */
export function routerCodeDigest(): string {
  const source = new URL('./router-main.ts', import.meta.url);
  const command = entryCommand('router-main', source);
  const entry = command[command.length - 1]!;
  const hash = createHash('sha256');
  if (entry.endsWith('.js')) {
    hash.update(readFileSync(entry));
  } else {
    const src = dirname(dirname(fileURLToPath(source)));
    for (const file of [...sourceFiles(join(src, 'router')), ...sourceFiles(join(src, 'core'))]) {
      hash.update(file).update('\0').update(readFileSync(file)).update('\0');
    }
  }
  return hash.digest('hex').slice(0, 16);
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
