// Issue 22: a deploy with nothing changed does not read the tree again. The CLI
// remembers, in the service's .slipway/, the stat fingerprint of the tree it sent
// last and its artefact's digest; the digest it then sends is the one the server
// holds for the running release, and the first change to a file is sent and
// deployed (that file alone: test/blob-deploy.test.ts).
// (The time it saves is measured by bench/no-change-deploy-bench.ts.)

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import { freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type ServerProcess } from './support/harness.ts';

describe('a no-change deploy does not pack the tree again', () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir, timeoutMs: 90_000 });
  const status = () => getJson<EnvironmentStatus>(`${server.url}/api/environments/hello%2Fstaging`);

  beforeAll(async () => {
    work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    writeService(app, { envs: { staging: { instances: 1, port: await freePort() } } });
    mkdirSync(join(app, 'data'));
    for (let i = 0; i < 4; i++) writeFileSync(join(app, 'data', `blob-${i}.bin`), randomBytes(1024 * 1024));
    const written = Date.now();
    server = await startServerProcess(dataDir);
    // The tree must be older than the slack for coarse timestamps (2 s) when the first
    // deploy packs it, or it is not remembered; a server can start faster than that.
    await new Promise((r) => setTimeout(r, Math.max(0, written + 2_100 - Date.now())));
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('remembers the tree first sent, sends its digest again without reading a file, and sends the first change', async () => {
    const first = await cli('deploy', 'staging');
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.stdout).toMatch(/sending \d+ of \d+ files/);
    expect(existsSync(join(app, '.slipway', 'pack-cache.json'))).toBe(true);
    const digest = (await status()).stable!.artefactDigest;

    const again = await cli('deploy', 'staging');
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(new RegExp(`unchanged since they were sent as ${digest.slice(0, 19)}…: not reading them again`));
    expect(again.stdout).not.toMatch(/sending \d+ of/);
    expect(again.stdout).toMatch(/already runs this artefact and config as #1; nothing to do/);

    const plan = await cli('--json', 'plan', 'staging');
    expect((JSON.parse(plan.stdout) as { artefact: { changed: boolean } }).artefact.changed).toBe(false);

    writeFileSync(join(app, 'data', 'blob-0.bin'), randomBytes(1024 * 1024));
    const changed = await cli('deploy', 'staging');
    expect(changed.code, changed.stdout + changed.stderr).toBe(0);
    expect(changed.stdout).toMatch(/sending 1 of \d+ files \(1\.0 MB\)/);
    const s = await status();
    expect(s.stable!.number).toBe(2);
    expect(s.stable!.artefactDigest).not.toBe(digest);
  }, 240_000);
});
