// `slipway remove` of a docker environment on a real engine: the images of its
// releases go with it (its releases are forgotten, so retention never would), and an
// image another environment's release still runs stays (docker image ls). Skips
// loudly without an engine outside CI.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import type { RemoveAnswerJson } from '../src/api/views.ts';
import { deployThroughApi } from './support/api-deploy.ts';
import { docker, dockerIsAvailable, ensureNodeImage, helloDockerfile, removeContainersOf } from './support/docker.ts';
import { adminToken, freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess, type ServiceOptions } from './support/harness.ts';

const available = await dockerIsAvailable();

describe.skipIf(!available)('slipway remove on the docker runtime', { timeout: 240_000 }, () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let service: ServiceOptions;
  let baseTag: string;
  let qaUrl: string;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir });
  const imageOf = (env: string, n: number): string => {
    const db = new Database(join(dataDir, 'state.db'), { readonly: true });
    try {
      return (db.prepare('SELECT image_id FROM releases WHERE env = ? AND number = ?').get(`rmimg/${env}`, n) as { image_id: string }).image_id;
    } finally {
      db.close();
    }
  };
  /** Image ids and tags the engine lists under slipway/rmimg, as `docker image ls slipway/rmimg` does. */
  const listed = async () => {
    const images = await docker.listImages({ filters: { reference: ['slipway/rmimg'] } });
    return { ids: new Set(images.map((i) => i.Id)), tags: images.flatMap((i) => (i.RepoTags ?? []).map((t) => ({ id: i.Id, tag: t }))) };
  };
  async function deploy(env: string, version: string, expectStable: number): Promise<void> {
    writeService(app, { ...service, version });
    const r = await deployThroughApi({ url: server.url, token: adminToken(dataDir)!, dir: app, env });
    expect(r.ok, JSON.stringify(r)).toBe(true);
    await waitFor(`${env}#${expectStable} to be stable`, async () => {
      const s = await getJson<EnvironmentStatus>(`${server.url}/api/environments/${env}`);
      return s.rollout === null && s.stable?.number === expectStable;
    }, 90_000);
  }

  beforeAll(async () => {
    baseTag = (await ensureNodeImage()).tag;
    work = scratchDir();
    app = join(work, 'rmimg');
    dataDir = join(work, '.slipway');
    const [stagingPort, qaPort] = [await freePort(), await freePort()];
    qaUrl = `http://127.0.0.1:${qaPort}/`;
    service = {
      service: 'rmimg', health: { startDeadline: '30s' },
      envs: { staging: { instances: 1, port: stagingPort, extraYaml: 'runtime: docker' }, qa: { instances: 1, port: qaPort, extraYaml: 'runtime: docker' } },
    };
    writeService(app, { ...service, version: '1.0.0' });
    writeFileSync(join(app, 'Dockerfile'), helloDockerfile(baseTag));
    server = await startServerProcess(dataDir);
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
    if (dataDir) await removeContainersOf(dataDir);
    for (const tag of (await docker.listImages({ filters: { reference: ['slipway/rmimg'] } }).catch(() => [])).flatMap((i) => i.RepoTags ?? [])) {
      await docker.getImage(tag).remove().catch(() => undefined);
    }
  });

  it('removes the images of the removed environment\'s releases and keeps the one another environment runs', async () => {
    // One artefact in both environments: one image, shared.
    await deploy('staging', '1.0.0', 1);
    await deploy('qa', '1.0.0', 1);
    await deploy('staging', '2.0.0', 2);
    const [shared, own] = [imageOf('staging', 1), imageOf('staging', 2)];
    expect(imageOf('qa', 1)).toBe(shared);
    expect(own).not.toBe(shared);
    expect((await listed()).ids).toEqual(new Set([shared, own]));

    const r = await cli('remove', 'staging', '--yes', '--json');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const after = await listed();
    expect(after.ids).toEqual(new Set([shared])); // staging#2's image, its build tag and kept- tag, are gone
    expect(after.tags.map((t) => t.tag).sort()).toEqual(expect.arrayContaining([expect.stringMatching(/^slipway\/rmimg:kept-/)]));
    await expect(docker.getImage(own).inspect()).rejects.toMatchObject({ statusCode: 404 });
    const answer = JSON.parse(r.stdout) as RemoveAnswerJson;
    expect(answer.images).toMatchObject({ removed: [own], kept: [], failed: [] });
    // qa still runs the shared image, and restarts from it.
    expect(await getJson<{ version: string }>(qaUrl)).toMatchObject({ version: '1.0.0' });
  });

  it('says what it removed', async () => {
    await deploy('staging', '3.0.0', 1);
    const own = imageOf('staging', 1);
    const r = await cli('remove', 'staging', '--yes');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/removed rmimg\/staging: 1 instance\(s\) stopped; forgot 1 release\(s\)/);
    expect(r.stdout).toMatch(/1 image\(s\) of its releases removed from the Docker engine/);
    expect((await listed()).ids.has(own)).toBe(false);
    console.log(`slipway remove on the docker runtime said:\n${r.stdout}`);
  });

  it('an image the engine will not delete stays, is said, and the remove still succeeds', async () => {
    await deploy('staging', '4.0.0', 1);
    const own = imageOf('staging', 1);
    // Someone ran the release's image by hand: the engine refuses to delete an image a container uses.
    const theirs = await docker.createContainer({ Image: own, Cmd: ['true'], Labels: { 'slipway.test': 'docker-remove-images' } });
    try {
      const r = await cli('remove', 'staging', '--yes', '--json');
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const answer = JSON.parse(r.stdout) as RemoveAnswerJson;
      expect(answer.forgotten.releases).toBe(1);
      expect(answer.images.removed).toEqual([]);
      expect(answer.images.kept).toEqual([{ image: own, why: expect.stringMatching(/container|conflict/i) }]);
      expect((await listed()).ids.has(own)).toBe(true);
      expect((await cli('status', 'staging')).code).not.toBe(0); // forgotten all the same
    } finally {
      await theirs.remove({ force: true });
    }
  });
});
