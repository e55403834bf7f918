// Release retention and disk bounds on a real Docker engine: the images of releases
// beyond keep_releases go (docker image ls), the rollback target's image stays and
// rolls back, a rollback to a removed one is refused with a precise error, a failed
// image build leaves no step image behind, and containers' json-file logs are
// bounded (docker inspect). Skips loudly without an engine outside CI.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import { deployThroughApi } from './support/api-deploy.ts';
import { containersOf, docker, dockerIsAvailable, ensureNodeImage, helloDockerfile, removeContainersOf } from './support/docker.ts';
import { adminToken, freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess, type ServiceOptions } from './support/harness.ts';

const available = await dockerIsAvailable();

describe.skipIf(!available)('release retention on the docker runtime', { timeout: 180_000 }, () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let service: ServiceOptions;
  let baseTag: string;
  let url: string;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir });
  const status = () => getJson<EnvironmentStatus>(`${server.url}/api/environments/staging`);
  const imageOf = (n: number): string => {
    const db = new Database(join(dataDir, 'state.db'), { readonly: true });
    try {
      return (db.prepare("SELECT image_id FROM releases WHERE env = 'retain/staging' AND number = ?").get(n) as { image_id: string }).image_id;
    } finally {
      db.close();
    }
  };
  /** Image ids the engine lists under slipway/retain, as `docker image ls slipway/retain` does. */
  const listed = async () => new Set((await docker.listImages({ filters: { reference: ['slipway/retain'] } })).map((i) => i.Id));
  const write = (version: string, dockerfile = helloDockerfile(baseTag)) => {
    writeService(app, { ...service, version });
    writeFileSync(join(app, 'Dockerfile'), dockerfile);
  };
  async function deploy(version: string, expectStable: number): Promise<void> {
    write(version);
    const r = await deployThroughApi({ url: server.url, token: adminToken(dataDir)!, dir: app, env: 'staging' });
    expect(r.ok, JSON.stringify(r)).toBe(true);
    await waitFor(`staging#${expectStable} to be stable`, async () => {
      const s = await status();
      return s.rollout === null && s.stable?.number === expectStable;
    }, 60_000);
  }

  beforeAll(async () => {
    baseTag = (await ensureNodeImage()).tag;
    work = scratchDir();
    app = join(work, 'retain');
    dataDir = join(work, '.slipway');
    const port = await freePort();
    url = `http://127.0.0.1:${port}/`;
    service = { service: 'retain', health: { startDeadline: '30s' }, envs: { staging: { instances: 1, port, extraYaml: 'runtime: docker\nkeep_releases: 1' } } };
    write('1.0.0');
    server = await startServerProcess(dataDir);
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
    if (dataDir) await removeContainersOf(dataDir);
    // The images this test's releases made, whatever the test left of them.
    for (const tag of (await docker.listImages({ filters: { reference: ['slipway/retain'] } }).catch(() => [])).flatMap((i) => i.RepoTags ?? [])) {
      await docker.getImage(tag).remove().catch(() => undefined);
    }
  });

  it('removes the image of a release beyond keep_releases, keeps the rollback target\'s, and rolls back to it', async () => {
    await deploy('1.0.0', 1);
    await deploy('2.0.0', 2);
    await deploy('3.0.0', 3);
    const [one, two, three] = [imageOf(1), imageOf(2), imageOf(3)];
    expect(new Set([one, two, three]).size).toBe(3);
    await waitFor('the image of #1 to go', async () => !(await listed()).has(one));
    const images = await listed();
    expect(images.has(two)).toBe(true); // the rollback target
    expect(images.has(three)).toBe(true); // stable
    await expect(docker.getImage(one).inspect()).rejects.toMatchObject({ statusCode: 404 });
    const log = readFileSync(join(work, 'server.log'), 'utf8');
    const sweeps = [...log.matchAll(/"images":(\d+),"bytesFreed":(\d+)/g)].map((m) => `${m[1]} image(s), ${m[2]} bytes`);
    console.log(`release retention on the docker runtime: sweeps freed ${sweeps.join('; ')}`);
    const r = await cli('rollback', 'staging');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect((await status()).stable?.number).toBe(2);
    expect(await getJson<{ version: string }>(url)).toMatchObject({ version: '2.0.0' });
  });

  it('a rollback to a release whose image retention removed is refused with E_NO_RELEASE, not E_IMAGE_MISSING', async () => {
    const r = await cli('rollback', 'staging', '--to', '1');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_NO_RELEASE.*cannot roll back to retain\/staging#1: it was removed by release retention .*its unpacked tree, artefact and image are gone/);
    expect((await status()).stable?.number).toBe(2);
  });

  it('starts containers whose json-file log is bounded', async () => {
    const [c] = (await containersOf(dataDir, false)).filter((x) => x.Labels['slipway.env'] === 'retain/staging');
    const info = await docker.getContainer(c!.Id).inspect();
    expect(info.HostConfig.LogConfig).toEqual({ Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '4' } });
  });

  it('a failed image build leaves no step image behind', async () => {
    const base = await docker.getImage(baseTag).inspect();
    const danglingOnBase = async () => (await docker.listImages({ all: true, filters: { dangling: ['true'] } })).filter((i) => i.ParentId === base.Id).map((i) => i.Id);
    const before = new Set(await danglingOnBase());
    // The COPY step succeeds (and is committed as an image); the RUN step fails.
    write('9.0.0', [`FROM ${baseTag}`, 'COPY . /app', 'RUN exit 3', ''].join('\n'));
    const r = await deployThroughApi({ url: server.url, token: adminToken(dataDir)!, dir: app, env: 'staging' });
    expect(r.ok).toBe(false);
    expect(JSON.stringify(r)).toMatch(/E_DEPLOY_FAILED.*building the image of retain/);
    expect((await danglingOnBase()).filter((id) => !before.has(id))).toEqual([]);
    expect((await status()).stable?.number).toBe(2);
  });
});
