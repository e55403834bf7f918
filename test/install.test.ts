// Installing slipway from its repository, as README's "Install" says: the package
// npm would pack holds what the command needs (and pins its dependencies with a
// shrinkwrap), and `npm install -g <checkout>` into a scratch prefix gives a
// `slipway` that answers --version and runs init + validate in a scratch project.
// The install from the packed tarball (every dependency fetched, better-sqlite3
// compiled: minutes) is not run here; its figures are in the commit that added it.

import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO, scratchDir } from './support/harness.ts';

const run = promisify(execFile);
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

describe('installing slipway from the repository', () => {
  it('the packed package has the command, its sources and a shrinkwrap, and no tests', async () => {
    // Packed for real (prepack writes the shrinkwrap); into a scratch directory, never the checkout.
    const dest = scratchDir('slipway-pack-');
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dest], { cwd: REPO, timeout: 60_000 });
    const files = (JSON.parse(stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(['bin/slipway.js', 'bin/launch.js', 'src/cli/main.ts', 'src/server.ts', 'src/router/router-main.ts', 'examples/hello/server.js', 'npm-shrinkwrap.json', 'package.json']));
    expect(files.filter((f) => f.endsWith('.test.ts') || f.startsWith('test/') || f.startsWith('node_modules/'))).toEqual([]);
  }, 60_000);

  it('npm install -g from the checkout gives a slipway that answers --version, init and validate', async () => {
    const prefix = scratchDir('slipway-prefix-');
    await run('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', REPO], { timeout: 60_000 });
    const slipway = join(prefix, 'bin', 'slipway');
    const env = { ...process.env, NO_COLOR: '1', PATH: `${join(prefix, 'bin')}:${process.env.PATH}` };
    expect((await run(slipway, ['--version'], { env })).stdout.trim()).toBe(VERSION);
    const project = scratchDir('slipway-project-');
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'hello', scripts: { start: 'node server.js' } }));
    writeFileSync(join(project, 'server.js'), '');
    // By name from PATH, as a user would type it.
    const init = await run('slipway', ['init', '--service', 'hello'], { cwd: project, env });
    expect(init.stdout).toMatch(/wrote .*slipway\.yaml for service "hello"/);
    const validate = await run('slipway', ['validate'], { cwd: project, env });
    expect(validate.stdout).toMatch(/^ok slipway\.yaml: service hello/m);
  }, 60_000);
});
