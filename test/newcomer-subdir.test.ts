// A newcomer working in a subdirectory of their service (src/, after editing a file
// there) runs slipway as they would run git or npm. Every command answered
// "slipway.yaml does not exist; run `slipway init` to create one", which would
// have written a second, empty service into src/; `release` looked for
// src/slipway.yaml in the commit. The nearest slipway.yaml above is the service's.

import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type ServerProcess } from './support/harness.ts';

describe('commands run from a subdirectory of the service', () => {
  const work = scratchDir('slipway-subdir-');
  const app = join(work, 'orders');
  const sub = join(app, 'src', 'routes');
  const dataDir = join(work, '.slipway');
  let server: ServerProcess | null = null;
  let port = 0;
  const cli = (cwd: string, ...args: string[]) => runCli(args, { cwd, dataDir, timeoutMs: 60_000 });

  beforeAll(async () => {
    port = await freePort();
    writeService(app, { service: 'orders', envs: { staging: { instances: 1, port }, production: { instances: 1, port: await freePort() } } });
    appendFileSync(join(app, 'slipway.yaml'), 'pipeline: { rollback_drill: false }\n');
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, 'index.ts'), 'export {};\n');
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.email=dev@example.com', '-c', 'user.name=dev', ...args], { cwd: app, stdio: 'pipe' });
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('commit', '-qm', 'orders');
    server = await startServerProcess(dataDir);
  }, 120_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  }, 60_000);

  it('validate and deploy use the service directory above, and say so', async () => {
    const v = await cli(sub, 'validate');
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(v.stdout).toContain('ok slipway.yaml: service orders');
    expect(v.stderr).toContain(`using ${join(app, 'slipway.yaml')}: the service directory is ${app}`);

    const d = await cli(sub, 'deploy', 'staging');
    expect(d.code, d.stdout + d.stderr).toBe(0);
    expect(d.stderr).toContain(`the service directory is ${app}`);
    expect(d.stderr).not.toContain('slipway init');
    // The whole service was packed, not src/routes: the example's server answers.
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);

    // A bare environment name means this service's, as in its own directory.
    const s = await cli(sub, '--json', 'status', 'staging');
    expect(s.code, s.stderr).toBe(0);
    expect((JSON.parse(s.stdout) as { env: string }).env).toBe('orders/staging');
  }, 90_000);

  it('release builds the service directory of the commit, not the subdirectory', async () => {
    const r = await cli(sub, '--json', 'release', '--detach');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const run = (JSON.parse(r.stdout) as { run: { service: string; subdir: string; repo: string } }).run;
    expect(run).toMatchObject({ service: 'orders', subdir: '', repo: app });
  }, 60_000);

  it('with no slipway.yaml anywhere above, the error still says to run slipway init', async () => {
    const elsewhere = join(work, 'not-a-service');
    mkdirSync(elsewhere);
    const r = await cli(elsewhere, 'validate');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('slipway.yaml not found; create one with `slipway init`');
  });
});
