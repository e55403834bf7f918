// README's "Using it on your service" starts the server in the service's own
// directory, so its data directory (`.slipway/`: admin.token, the master and
// signing keys, state.db with the encrypted secrets) sits inside the project's git
// work tree, and `git add -A` took it all. The deploy's own caches live there too.

import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type ServerProcess } from './support/harness.ts';

const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' } });

describe('a server and a deploy in a git work tree', () => {
  const app = join(scratchDir('slipway-git-'), 'shop');
  const dataDir = join(app, '.slipway');
  let server: ServerProcess | null = null;

  beforeAll(async () => {
    writeService(app, { service: 'shop', envs: { staging: { instances: 1, port: await freePort() } } });
    git(app, 'init', '-q');
    server = await startServerProcess(dataDir);
  }, 120_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  }, 60_000);

  it('leaves nothing of .slipway/ for `git add -A` to take: no token, key, state or cache', async () => {
    const d = await runCli(['deploy', 'staging'], { cwd: app, dataDir });
    expect(d.code, d.stdout + d.stderr).toBe(0);
    const added = git(app, 'add', '-A', '--dry-run').split('\n').filter(Boolean);
    expect(added.length).toBeGreaterThan(0); // the service's own files are
    expect(added.filter((l) => l.includes('.slipway'))).toEqual([]);
    // And the guard is not a file of the artefact's either: the release runs what was packed.
    expect(added.some((l) => l.includes('slipway.yaml'))).toBe(true);
  }, 60_000);
});
