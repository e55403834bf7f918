// How the `slipway` command starts its TypeScript sources.
//
// Through tsx's loader every start transpiles-or-looks-up and resolves ~80 modules
// through a loader thread: ~1.3 s of CPU for `slipway --version`, ~5 s for a server
// start. So the first start after the sources change bundles them once with esbuild
// (already a dependency) into node_modules/.cache/slipway-cli/<fingerprint>/, and
// every later start imports that plain JavaScript: ~0.5 s and ~2.6 s.
//
// What stays as it was: each module's import.meta.url is its own source file's URL
// (replaced at bundle time), so files found next to a module (the dashboard, the
// router's and log relay's entry points, package.json) are found exactly as before;
// npm packages are not bundled; the server stays a separate chunk, loaded only by
// `slipway server`. The fingerprint covers every source file's path, size and mtime,
// so an edited source is never run stale. Anything that stops the bundle (a
// read-only install, no esbuild) falls back to tsx; SLIPWAY_NO_BUNDLE=1 forces it.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'src');
const CACHE = join(ROOT, 'node_modules', '.cache', 'slipway-cli');
/** Bumped when the bundling below changes, so an old bundle is never taken for a new one. */
const BUNDLE_FORMAT = 3;

function sourcesFingerprint() {
  const hash = createHash('sha256').update(`${BUNDLE_FORMAT}\0${process.version}\0`);
  hash.update(readFileSync(join(ROOT, 'package.json')));
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (!entry.name.endsWith('.test.ts')) {
        const s = statSync(path);
        hash.update(`${relative(SRC, path)}\0${s.size}\0${s.mtimeMs}\0`);
      }
    }
  };
  walk(SRC);
  return hash.digest('hex').slice(0, 16);
}

async function bundle(outdir) {
  const { build } = await import('esbuild');
  const tmp = `${outdir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  await build({
    // The command, the programs it starts as child processes, and the router's
    // anonymising thread (platform/entry-point.ts).
    entryPoints: [join(SRC, 'cli', 'main.ts'), join(SRC, 'router', 'router-main.ts'), join(SRC, 'router', 'shadow', 'anonymise-thread.ts'), join(SRC, 'observe', 'log-relay-main.ts')],
    entryNames: '[name]',
    bundle: true, splitting: true, format: 'esm', platform: 'node', target: 'node20',
    packages: 'external', outdir: tmp, sourcemap: 'linked', logLevel: 'silent',
    plugins: [{
      name: 'own-import-meta-url',
      setup(b) {
        b.onLoad({ filter: /\.ts$/ }, (args) => {
          if (!args.path.startsWith(SRC)) return undefined;
          const text = readFileSync(args.path, 'utf8');
          return { contents: text.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)), loader: 'ts' };
        });
      },
    }],
  });
  try {
    renameSync(tmp, outdir);
  } catch (e) {
    // Another start made the same bundle meanwhile: theirs is as good as ours.
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(join(outdir, 'main.js'))) throw e;
  }
  // Bundles of earlier sources go after a week: not at once, because a server
  // started from one loads some of its chunks only when first needed.
  const weekAgo = Date.now() - 7 * 86_400_000;
  for (const old of readdirSync(CACHE)) {
    const path = join(CACHE, old);
    if (path !== outdir && statSync(path).mtimeMs < weekAgo) rmSync(path, { recursive: true, force: true });
  }
}

async function bundledMain() {
  if (process.env.SLIPWAY_NO_BUNDLE === '1') return null;
  try {
    const outdir = join(CACHE, sourcesFingerprint());
    const main = join(outdir, 'main.js');
    if (!existsSync(main)) {
      mkdirSync(CACHE, { recursive: true });
      await bundle(outdir);
    }
    return { url: pathToFileURL(main).href, dir: outdir };
  } catch {
    return null;
  }
}

export async function launch() {
  const main = await bundledMain();
  if (main) {
    // Stack traces name the source files and lines, as under tsx.
    process.setSourceMapsEnabled(true);
    // The router and log relay it starts run from the same bundle (src/platform/entry-point.ts).
    globalThis[Symbol.for('slipway.bundleDir')] = main.dir;
    await import(main.url);
    return;
  }
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
