// How slipway starts one of its own programs (the router, the log relay) as a
// child process. When the command itself runs from the bundle bin/launch.js made,
// that bundle holds these programs too, as plain JavaScript: the child starts as
// bare node, with no loader thread (the router: ~0.5 s of CPU instead of ~1.5 s).
// Otherwise, or if the bundle has gone meanwhile (a week after the sources
// changed), the child runs its TypeScript source through tsx, resolved from here so
// that the spawn works from any directory.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Set by bin/launch.js to the bundle's directory when the command runs from it. */
const BUNDLE_DIR = Symbol.for('slipway.bundleDir');

/** The bundle's directory, or null when running through tsx. */
export function bundleDir(): string | null {
  const dir = (globalThis as Record<symbol, unknown>)[BUNDLE_DIR];
  return typeof dir === 'string' ? dir : null;
}

/**
 * The argument vector that runs program `name` (`router-main`), whose TypeScript
 * source is `source` (a file: URL): node and the bundled file, or node, tsx and the source.
 */
export function entryCommand(name: string, source: URL): string[] {
  const bundled = bundledFile(name, [bundleDir()]);
  if (bundled !== null) return [process.execPath, '--enable-source-maps', bundled];
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return [process.execPath, '--import', tsx, fileURLToPath(source)];
}

/**
 * How to start program `name` as a worker thread (node:worker_threads), whose
 * TypeScript source is `source`: the bundled file, found by the bundle's directory
 * (the command's) or next to the running program (a router started from the
 * bundle), or else a few lines that register tsx in the new thread (a thread does
 * not inherit the process's `--import tsx`) and then import the source. Give both
 * fields to `new Worker(code, { eval })`.
 */
export function threadEntry(name: string, source: URL): { code: string; eval: boolean } {
  const program = process.argv[1] ?? '';
  const bundled = bundledFile(name, [bundleDir(), program.endsWith('.js') ? dirname(program) : null]);
  if (bundled !== null) return { code: bundled, eval: false };
  const tsx = import.meta.resolve('tsx/esm/api');
  return { code: `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(source.href)}); });`, eval: true };
}

/** Program `name`'s bundled file in the first of `dirs` that holds it; null when none does (or the bundle has gone). */
function bundledFile(name: string, dirs: readonly (string | null)[]): string | null {
  for (const dir of dirs) {
    const file = dir === null ? null : join(dir, `${name}.js`);
    if (file !== null && existsSync(file)) return file;
  }
  return null;
}
