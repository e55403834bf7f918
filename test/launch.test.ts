// How `slipway` starts (bin/launch.js): from a bundle of the sources made on the
// first start, never stale after a source changes, and through tsx when no bundle
// can be made. Played on a scratch package with bin/ copied in, so the real
// checkout's sources and cache are never touched.

import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO, scratchDir } from './support/harness.ts';

const run = promisify(execFile);

function scratchPackage(): string {
  const root = scratchDir('slipway-launch-');
  cpSync(join(REPO, 'bin'), join(root, 'bin'), { recursive: true });
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'launch-probe', version: '1.0.0', type: 'module' }));
  mkdirSync(join(root, 'node_modules'));
  // Linked: Node follows the links, so their own dependencies resolve in the checkout.
  for (const dep of ['esbuild', 'tsx']) symlinkSync(join(REPO, 'node_modules', dep), join(root, 'node_modules', dep));
  mkdirSync(join(root, 'src', 'cli'), { recursive: true });
  // The programs the command starts as child processes, and the router's thread, are bundled beside it (src/platform/entry-point.ts).
  for (const [dir, file] of [['router', 'router-main.ts'], ['router/shadow', 'anonymise-thread.ts'], ['observe', 'log-relay-main.ts']]) {
    mkdirSync(join(root, 'src', dir!), { recursive: true });
    writeFileSync(join(root, 'src', dir!, file!), `console.log('${file}');\n`);
  }
  // A sibling file found by import.meta.url, as the dashboard and router entry points are.
  writeFileSync(join(root, 'src', 'cli', 'greeting.txt'), 'hello');
  writeFileSync(join(root, 'src', 'cli', 'words.ts'), "import { readFileSync } from 'node:fs';\nexport const greeting: string = readFileSync(new URL('./greeting.txt', import.meta.url), 'utf8');\n");
  writeMain(root, 'first');
  return root;
}

function writeMain(root: string, word: string): void {
  writeFileSync(join(root, 'src', 'cli', 'main.ts'), `import { greeting } from './words.ts';\nconst word: string = '${word}';\nconsole.log(greeting, word, import.meta.url.endsWith('/src/cli/main.ts') ? 'own-url' : import.meta.url);\n`);
}

async function slipway(root: string, env: Record<string, string> = {}): Promise<string> {
  return (await run(process.execPath, [join(root, 'bin', 'slipway.js')], { env: { ...process.env, ...env }, timeout: 30_000 })).stdout.trim();
}

const bundles = (root: string): string[] => readdirSync(join(root, 'node_modules', '.cache', 'slipway-cli'));

describe('starting the slipway command', () => {
  it('runs the sources from a bundle made on first start, with each module keeping its own import.meta.url', async () => {
    const root = scratchPackage();
    expect(await slipway(root)).toBe('hello first own-url');
    expect(bundles(root)).toHaveLength(1);
    const files = readdirSync(join(root, 'node_modules', '.cache', 'slipway-cli', bundles(root)[0]!));
    expect(files).toEqual(expect.arrayContaining(['main.js', 'router-main.js', 'anonymise-thread.js', 'log-relay-main.js']));
    expect(await slipway(root)).toBe('hello first own-url');
    expect(bundles(root)).toHaveLength(1);
  }, 60_000);

  it('never runs a stale bundle: an edited source is bundled again, even with the same size', async () => {
    const root = scratchPackage();
    expect(await slipway(root)).toBe('hello first own-url');
    writeMain(root, 'other'); // same length as "first"
    utimesSync(join(root, 'src', 'cli', 'main.ts'), new Date(), new Date(Date.now() + 5_000));
    expect(await slipway(root)).toBe('hello other own-url');
    expect(bundles(root)).toHaveLength(2);
  }, 60_000);

  it('runs through tsx when no bundle can be made, or with SLIPWAY_NO_BUNDLE=1', async () => {
    const root = scratchPackage();
    expect(await slipway(root, { SLIPWAY_NO_BUNDLE: '1' })).toBe('hello first own-url');
    expect(() => bundles(root)).toThrow();
    // The cache cannot be made (a file where its directory would go; as root, modes would not stop it).
    writeFileSync(join(root, 'node_modules', '.cache'), '');
    expect(await slipway(root)).toBe('hello first own-url');
  }, 60_000);
});
