// Release retention end to end on the process runtime: a real server, real
// instances, real SQLite. More releases than keep_releases are deployed; the trees
// and artefacts of the old ones go, the kept ones (the rollback target beyond the
// newest N among them) still roll back, a rollback to a removed one is refused with
// a precise error, and a sweep a crash interrupted is finished at the next start.

import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import { deployThroughApi } from './support/api-deploy.ts';
import { adminToken, freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess, type ServiceOptions } from './support/harness.ts';

interface ReleaseRow {
  id: number;
  number: number;
  dir: string;
  artefact_digest: string;
}

describe('release retention on the process runtime', { timeout: 120_000 }, () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let service: ServiceOptions;
  let url: string;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir });
  const status = () => getJson<EnvironmentStatus>(`${server.url}/api/environments/staging`);
  const rows = (): ReleaseRow[] => {
    const db = new Database(join(dataDir, 'state.db'), { readonly: true });
    try {
      return db.prepare("SELECT id, number, dir, artefact_digest FROM releases WHERE env = 'hello/staging' ORDER BY number").all() as ReleaseRow[];
    } finally {
      db.close();
    }
  };
  const release = (n: number) => rows().find((r) => r.number === n)!;
  const artefactFile = (r: ReleaseRow) => join(dataDir, 'artefacts', `${r.artefact_digest.replace(':', '-')}.tar.gz`);
  const envDir = () => join(dataDir, 'releases', 'hello.staging');

  async function deploy(version: string, expectStable: number): Promise<void> {
    writeService(app, { ...service, version });
    const r = await deployThroughApi({ url: server.url, token: adminToken(dataDir)!, dir: app, env: 'staging' });
    expect(r.ok, JSON.stringify(r)).toBe(true);
    await waitFor(`staging#${expectStable} to be stable`, async () => {
      const s = await status();
      return s.rollout === null && s.stable?.number === expectStable;
    }, 30_000);
  }

  beforeAll(async () => {
    work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    const port = await freePort();
    url = `http://127.0.0.1:${port}/`;
    service = { envs: { staging: { instances: 1, port, extraYaml: 'keep_releases: 1' } } };
    writeService(app, { ...service, version: '1.0.0' });
    server = await startServerProcess(dataDir);
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('keeps the newest keep_releases releases and the rollback target beyond them; the trees and artefacts of the rest go', async () => {
    await deploy('1.0.0', 1);
    await deploy('2.0.0', 2);
    await deploy('3.0.0', 3);
    // #1 is not the newest and not the rollback target (#2).
    await waitFor('the tree of #1 to go', () => !existsSync(release(1).dir));
    // Back to #2: the rollback target is now #3.
    const back = await cli('rollback', 'staging', '--to', '2');
    expect(back.code, back.stdout + back.stderr).toBe(0);
    await deploy('4.0.0', 4);
    // Newest: #4. #2 is the rollback target (the stable #4 replaced it), kept beyond keep_releases; #3 is neither.
    await waitFor('the tree of #3 to go', () => !existsSync(release(3).dir));
    for (const n of [1, 3]) {
      expect(existsSync(release(n).dir), `tree of #${n}`).toBe(false);
      expect(existsSync(artefactFile(release(n))), `artefact of #${n}`).toBe(false);
    }
    for (const n of [2, 4]) {
      expect(existsSync(join(release(n).dir, 'server.js')), `tree of #${n}`).toBe(true);
      expect(existsSync(artefactFile(release(n))), `artefact of #${n}`).toBe(true);
    }
    expect(readdirSync(envDir()).filter((d) => d.startsWith('.retired-'))).toEqual([]);
    const log = readFileSync(join(work, 'server.log'), 'utf8');
    const freed = [...log.matchAll(/"bytesFreed":(\d+)/g)].map((m) => Number(m[1]));
    console.log(`release retention on the process runtime: sweeps freed ${freed.join(' + ')} bytes`);
    expect(freed.some((b) => b > 0)).toBe(true);
    const audit = await getJson<{ entries: { action: string; actor: string; target: string }[] }>(`${server.url}/api/audit?action=release.retire`);
    expect(audit.entries.map((e) => `${e.actor} ${e.target}`)).toEqual(['slipway-retention releases #1', 'slipway-retention releases #3']);
  });

  it('a rollback to a release retention removed is refused, saying so, and changes nothing', async () => {
    const r = await cli('rollback', 'staging', '--to', '3');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_NO_RELEASE.*cannot roll back to hello\/staging#3: it was removed by release retention on \S+ \(an environment keeps its newest 1 release, keep_releases in slipway.yaml, and those in use\); its unpacked tree, artefact and image are gone. Roll back to one that is kept \(#2; see slipway releases hello\/staging\), or deploy that version again/);
    expect(r.stderr).not.toMatch(/ENOENT|at .*\.ts:\d+/);
    const s = await status();
    expect(s.rollout).toBeNull();
    expect(s.stable?.number).toBe(4);
  });

  it('the kept rollback target still rolls back', async () => {
    const r = await cli('rollback', 'staging');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect((await status()).stable?.number).toBe(2);
    expect(await getJson<{ version: string }>(url)).toMatchObject({ version: '2.0.0' });
  });

  it('a sweep a crash interrupted is finished at the next start', async () => {
    await server.stop();
    // As a crash between the rename and the delete leaves it: the mark without cleaned_at, the tree renamed aside.
    const aside = join(envDir(), `.retired-${release(3).artefact_digest.slice(7, 23)}-crashed`);
    mkdirSync(join(aside, 'lib'), { recursive: true });
    writeFileSync(join(aside, 'lib', 'half.js'), 'x'.repeat(4096));
    const db = new Database(join(dataDir, 'state.db'));
    db.prepare('UPDATE retired_releases SET cleaned_at = NULL WHERE release_id = ?').run(release(3).id);
    db.close();
    server = await startServerProcess(dataDir, 'server2.log');
    await waitFor('the interrupted sweep to be finished', () => {
      const d = new Database(join(dataDir, 'state.db'), { readonly: true });
      try {
        return !existsSync(aside) && (d.prepare('SELECT cleaned_at FROM retired_releases WHERE release_id = ?').get(release(3).id) as { cleaned_at: number | null }).cleaned_at !== null;
      } finally {
        d.close();
      }
    });
    const r = await cli('rollback', 'staging', '--to', '1');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_NO_RELEASE.*hello\/staging#1: it was removed by release retention/);
    expect((await status()).stable?.number).toBe(2);
  });
});
