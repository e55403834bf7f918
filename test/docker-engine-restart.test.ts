// The Docker engine going away and coming back while slipway runs, as a dockerd
// restart with `live-restore` (or a dropped connection to a remote engine) does:
// the containers keep running, every connection to the engine breaks, the socket
// is gone for a while. The server talks to the real engine through a small socket
// relay (DOCKER_HOST) that the test cuts and restores.

import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTraffic } from '../src/cli/traffic.ts';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import { EngineRelay, containersOf, docker, dockerIsAvailable, ensureNodeImage, helloDockerfile, removeContainersOf } from './support/docker.ts';
import { freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';

const available = await dockerIsAvailable();
const SERVICE = 'dxengine';


describe.skipIf(!available)('the docker engine restarting under a running server', { timeout: 120_000 }, () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let relay: EngineRelay;
  let url: string;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir });
  const status = () => getJson<EnvironmentStatus>(`${server.url}/api/environments/${SERVICE}%2Fstaging`);
  const linesWith = async (marker: string) => (await cli('logs', 'staging', '--grep', marker)).stdout.split('\n').filter((l) => l.includes(marker)).length;
  const logsHave = async (marker: string) => (await linesWith(marker)) > 0;

  beforeAll(async () => {
    const base = await ensureNodeImage();
    work = scratchDir();
    app = join(work, 'app');
    dataDir = join(work, '.slipway');
    const port = await freePort();
    url = `http://127.0.0.1:${port}/`;
    writeService(app, {
      service: SERVICE, version: '1.0.0', health: { startDeadline: '30s' },
      envs: { staging: { instances: 2, port, config: { LOG_EVERY_REQUEST: '1' }, extraYaml: 'runtime: docker' } },
    });
    writeFileSync(join(app, 'Dockerfile'), helloDockerfile(base.tag));
    relay = new EngineRelay(join(work, 'engine.sock'));
    await relay.up();
    server = await startServerProcess(dataDir, 'server.log', { ...process.env, DOCKER_HOST: `unix://${relay.path}` });
  });

  afterAll(async () => {
    await relay?.up().catch(() => undefined);
    await shutdownEverything(server?.url ?? null, dataDir);
    await relay?.cut();
    if (dataDir) await removeContainersOf(dataDir);
    for (const image of await docker.listImages({ filters: { reference: [`slipway/${SERVICE}`] } }).catch(() => [])) {
      await docker.getImage(image.Id).remove({ force: true }).catch(() => undefined);
    }
  });

  it('keeps serving while the engine is away, and copies what the containers say afterwards into slipway logs', async () => {
    const d = await cli('deploy', 'staging');
    expect(d.code, d.stdout + d.stderr).toBe(0);
    const before = `before-${Date.now()}`;
    await getJson(`${url}?${before}`);
    await waitFor('the request to be in slipway logs', () => logsHave(before));
    const containers = (await containersOf(dataDir, false)).map((c) => c.Id).sort();
    expect(containers).toHaveLength(2);

    // The engine goes away for 4 s; the containers do not.
    await relay.cut();
    const traffic = startTraffic({ url, concurrency: 4, maxDurationMs: 60_000, pauseMs: 5 });
    await new Promise((r) => setTimeout(r, 4000));
    await relay.up();
    await new Promise((r) => setTimeout(r, 1000));
    const s = await traffic.stop();
    expect(s.failed, JSON.stringify({ errors: s.errors, byStatus: s.byStatus })).toBe(0);

    const after = `after-${Date.now()}`;
    await getJson(`${url}?${after}`);
    await waitFor('a request made after the engine came back to be in slipway logs', () => logsHave(after), 20_000).catch(() => undefined);
    expect(await logsHave(after)).toBe(true);
    // Neither replaced nor duplicated, and nothing copied twice.
    expect((await containersOf(dataDir, false)).map((c) => c.Id).sort()).toEqual(containers);
    expect((await status()).instances.map((i) => i.state)).toEqual(['ready', 'ready']);
    expect(await linesWith(before)).toBe(1);
  });

  it('the label filter docs/docker.md gives lists an environment\'s containers', async () => {
    // The doc's example names the example service's production: `<service>/<env>`, as the label holds it.
    const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'docker.md'), 'utf8');
    const example = /docker ps --filter label=slipway\.env=(\S+?)`/.exec(doc)?.[1];
    expect(example).toBe('hello/production');
    const listed = await docker.listContainers({ filters: { label: [`slipway.env=${SERVICE}/staging`] } });
    expect(listed.map((c) => c.Labels['slipway.instance']).sort()).toEqual((await status()).instances.map((i) => i.id).sort());
  });

  it('a server that starts while the engine is away copies the containers\' logs once it is back', async () => {
    const containers = (await containersOf(dataDir, false)).map((c) => c.Id).sort();
    await server.kill9();
    await relay.cut();
    server = await startServerProcess(dataDir, 'server2.log', { ...process.env, DOCKER_HOST: `unix://${relay.path}` });
    const away = `engine-away-${Date.now()}`;
    await getJson(`${url}?${away}`);
    await new Promise((r) => setTimeout(r, 2000));
    await relay.up();
    const back = `engine-back-${Date.now()}`;
    await getJson(`${url}?${back}`);
    await waitFor('requests made before and after the engine came back to be in slipway logs', async () => (await logsHave(away)) && (await logsHave(back)), 20_000).catch(() => undefined);
    expect({ away: await linesWith(away), back: await linesWith(back) }).toEqual({ away: 1, back: 1 });
    expect((await containersOf(dataDir, false)).map((c) => c.Id).sort()).toEqual(containers);
  });
});
