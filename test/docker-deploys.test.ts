// Deploys with runtime: docker on a real Docker engine: the example service built
// into an image from its Dockerfile (on a base image made from this machine's node,
// no registry), rolled and canaried under load through slipway's router, a release
// that fails health kept away from traffic, abort and rollback, and a server that
// dies and comes back adopting its containers. Skips loudly without an engine
// outside CI; fails without one in CI.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTraffic, type TrafficStats } from '../src/cli/traffic.ts';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import { containersOf, docker, dockerIsAvailable, ensureNodeImage, helloDockerfile, removeContainersOf } from './support/docker.ts';
import { freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess, type ServiceOptions } from './support/harness.ts';

const available = await dockerIsAvailable();
const API_TOKEN = 'tok-4be1c0ffee-never-in-a-log';

// Generous: a loaded machine's engine may take seconds to create and start each container.
describe.skipIf(!available)('deploys on the docker runtime', { timeout: 120_000 }, () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let service: ServiceOptions;
  let baseTag: string;
  let stagingUrl: string;
  let prodUrl: string;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir });
  const status = (env: string) => getJson<EnvironmentStatus>(`${server.url}/api/environments/${env}`);
  const failures = (s: TrafficStats) => JSON.stringify({ errors: s.errors, byStatus: s.byStatus });
  /** Running containers of an environment, as the engine (not slipway) sees them. */
  const running = async (env: string) => (await containersOf(dataDir, false)).filter((c) => c.Labels['slipway.env'] === `hello/${env}`);
  const writeVersion = (version: string, over: Partial<ServiceOptions> = {}) => {
    writeService(app, { ...service, version, ...over });
    writeFileSync(join(app, 'Dockerfile'), helloDockerfile(baseTag));
  };
  const imageOf = (env: string, number: number): string | null => {
    const db = new Database(join(dataDir, 'state.db'), { readonly: true });
    try {
      return (db.prepare('SELECT image_id FROM releases WHERE env = ? AND number = ?').get(`hello/${env}`, number) as { image_id: string | null }).image_id;
    } finally {
      db.close();
    }
  };
  const waitForStep = (env: string, current: string) =>
    waitFor(`${env} to reach "${current}"`, async () => (await status(env)).rollout?.current === current, 30_000);

  beforeAll(async () => {
    const base = await ensureNodeImage();
    baseTag = base.tag;
    console.log(`docker base image ${base.tag}: ${base.buildMs ? `imported in ${base.buildMs} ms` : 'already there'}`);
    work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    const [staging, production] = [await freePort(), await freePort()];
    stagingUrl = `http://127.0.0.1:${staging}/`;
    prodUrl = `http://127.0.0.1:${production}/`;
    service = {
      version: '1.0.0',
      // The deadline counts from the start request: it includes the engine creating and starting the container.
      health: { startDeadline: '30s' },
      envs: {
        staging: {
          instances: 2, port: staging, batch: 1, maxUnavailable: 0,
          config: { LOG_EVERY_REQUEST: '1', PRINT_ENV: 'API_TOKEN' },
          extraYaml: 'runtime: docker\nresources: { memory: 128m, cpus: 1 }',
        },
        production: {
          instances: 2, port: production,
          strategyYaml: 'type: canary\nsteps:\n  - weight: 25\n  - pause: {}\n  - weight: 75\n  - pause: 1s',
          extraYaml: 'runtime: docker',
        },
      },
    };
    writeVersion('1.0.0');
    server = await startServerProcess(dataDir);
    const secret = await runCli(['secret', 'set', 'staging', 'API_TOKEN', '--no-rollout'], { cwd: app, dataDir, input: `${API_TOKEN}\n` });
    expect(secret.code, secret.stdout + secret.stderr).toBe(0);
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
    if (dataDir) await removeContainersOf(dataDir);
  });

  it('deploys v1 as one labelled container per instance, built from the Dockerfile, with its secret masked in the log', async () => {
    const t0 = performance.now();
    const a = await cli('deploy', 'staging');
    const stagingMs = performance.now() - t0;
    expect(a.code, a.stdout + a.stderr).toBe(0);
    const b = await cli('deploy', 'production');
    expect(b.code, b.stdout + b.stderr).toBe(0);
    console.log(`first docker deploy of staging (image build + 2 containers healthy): ${Math.round(stagingMs)} ms`);
    const st = await status('staging');
    expect(st.instances.map((i) => `${i.release}:${i.state}:${i.runtime}`)).toEqual(['1:ready:docker', '1:ready:docker']);
    const containers = await running('staging');
    expect(containers.map((c) => c.Labels['slipway.instance']).sort()).toEqual(st.instances.map((i) => i.id).sort());
    for (const c of containers) {
      expect(c.Labels).toMatchObject({ 'slipway.service': 'hello', 'slipway.release': '1' });
      expect(c.Ports.map((p) => p.IP)).toEqual(['127.0.0.1']);
      expect(c.ImageID).toBe(imageOf('staging', 1));
    }
    // Same artefact in both environments: one image, built once.
    expect(imageOf('production', 1)).toBe(imageOf('staging', 1));
    expect(await getJson<{ version: string }>(stagingUrl)).toMatchObject({ version: '1.0.0' });
    const log = readFileSync(join(dataDir, 'logs', 'hello.staging', `${st.instances[0]!.id}.log`), 'utf8');
    expect(log).toContain('"API_TOKEN":"***"');
    expect(log).not.toContain(API_TOKEN);
  });

  it('rolls staging from v1 to v2 under load with 0 failed requests, and removes the old containers', async () => {
    writeVersion('2.0.0');
    const traffic = startTraffic({ url: stagingUrl, concurrency: 8, maxDurationMs: 60_000, pauseMs: 2 });
    await new Promise((r) => setTimeout(r, 300));
    const r = await cli('deploy', 'staging');
    await new Promise((r2) => setTimeout(r2, 300));
    const s = await traffic.stop();
    console.log(`docker rolling deploy under load: ${s.sent} requests, ${s.failed} failed, versions ${JSON.stringify(s.versions)}`);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(s.failed, failures(s)).toBe(0);
    expect(s.sent).toBeGreaterThan(500);
    expect(s.versions['1.0.0']).toBeGreaterThan(0);
    expect(s.versions['2.0.0']).toBeGreaterThan(0);
    await waitFor('only v2 containers', async () => (await running('staging')).every((c) => c.Labels['slipway.release'] === '2'));
    expect(await running('staging')).toHaveLength(2);
    expect((await containersOf(dataDir)).filter((c) => c.Labels['slipway.env'] === 'hello/staging' && c.Labels['slipway.release'] === '1')).toEqual([]);
  });

  it('canaries production from v1 to v2 under load with 0 failed requests, through the router weights', async () => {
    const traffic = startTraffic({ url: prodUrl, concurrency: 8, maxDurationMs: 60_000, pauseMs: 2 });
    const r = await cli('deploy', 'production', '--detach');
    expect(r.code, r.stderr).toBe(0);
    await waitForStep('production', 'pause until promoted');
    expect((await status('production')).weights).toEqual({ 1: 75, 2: 25 });
    const p = await cli('promote', 'production');
    expect(p.code, p.stderr).toBe(0);
    await waitFor('the canary to finish', async () => (await status('production')).rollout === null, 30_000);
    const s = await traffic.stop();
    console.log(`docker canary deploy under load: ${s.sent} requests, ${s.failed} failed, versions ${JSON.stringify(s.versions)}`);
    expect(s.failed, failures(s)).toBe(0);
    expect(s.versions['2.0.0']).toBeGreaterThan(0);
    const pr = await status('production');
    expect(pr.stable?.number).toBe(2);
    expect(pr.instances.map((i) => `${i.release}:${i.state}`)).toEqual(['2:ready', '2:ready']);
    expect((await running('production')).map((c) => c.Labels['slipway.release'])).toEqual(['2', '2']);
  });

  it('a container that fails its health checks never gets a request, and is removed', async () => {
    writeVersion('3.0.0', { health: { startDeadline: '5s' }, envs: { ...service.envs, staging: { ...service.envs.staging!, config: { FAIL_HEALTH: '1' } } } });
    const traffic = startTraffic({ url: stagingUrl, concurrency: 4, maxDurationMs: 60_000, pauseMs: 2 });
    const r = await cli('deploy', 'staging');
    const s = await traffic.stop();
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/was not healthy within 5000ms \(last probe: /);
    expect(s.failed, failures(s)).toBe(0);
    expect(Object.keys(s.versions)).toEqual(['2.0.0']);
    await waitFor('the failed container to go', async () => (await containersOf(dataDir)).every((c) => c.Labels['slipway.release'] !== '3' || c.Labels['slipway.env'] !== 'hello/staging'));
    expect((await status('staging')).instances.map((i) => `${i.release}:${i.state}`)).toEqual(['2:ready', '2:ready']);
  });

  it('abort under load sends all traffic back to stable before the canary container stops, with 0 failed', async () => {
    writeVersion('4.0.0');
    const traffic = startTraffic({ url: prodUrl, concurrency: 8, maxDurationMs: 60_000, pauseMs: 2 });
    const d = await cli('deploy', 'production', '--detach');
    expect(d.code, d.stderr).toBe(0);
    await waitForStep('production', 'pause until promoted');
    const a = await cli('abort', 'production', '--wait');
    const s = await traffic.stop();
    expect(a.code, a.stdout + a.stderr).toBe(0);
    expect(a.stdout).toMatch(/rolled_back/);
    console.log(`docker canary abort under load: ${s.sent} requests, ${s.failed} failed, versions ${JSON.stringify(s.versions)}`);
    expect(s.failed, failures(s)).toBe(0);
    expect(s.versions['4.0.0']).toBeGreaterThan(0);
    await waitFor('the canary container to go', async () => (await running('production')).every((c) => c.Labels['slipway.release'] === '2'));
    expect((await status('production')).instances.map((i) => `${i.release}:${i.state}`)).toEqual(['2:ready', '2:ready']);
  });

  it('rollback brings v1 back from the image kept for it (never pulled), under load with 0 failed', async () => {
    const traffic = startTraffic({ url: stagingUrl, concurrency: 8, maxDurationMs: 60_000, pauseMs: 2 });
    await new Promise((r) => setTimeout(r, 300));
    const back = await cli('rollback', 'staging');
    const s = await traffic.stop();
    expect(back.code, back.stdout + back.stderr).toBe(0);
    console.log(`docker rollback under load: ${s.sent} requests, ${s.failed} failed, versions ${JSON.stringify(s.versions)}`);
    expect(s.failed, failures(s)).toBe(0);
    const st = await status('staging');
    expect(st.stable?.number).toBe(1);
    const containers = await running('staging');
    expect(containers.map((c) => c.Labels['slipway.release'])).toEqual(['1', '1']);
    expect(containers.map((c) => c.ImageID)).toEqual([imageOf('staging', 1), imageOf('staging', 1)]);
    expect(await getJson<{ version: string }>(stagingUrl)).toMatchObject({ version: '1.0.0' });
  });

  it('a rollback whose image was removed by hand is refused before anything changes; nothing is pulled', async () => {
    const image = imageOf('staging', 3)!;
    await docker.getImage(image).remove({ force: true });
    const r = await cli('rollback', 'staging', '--to', '3');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_IMAGE_MISSING.*staging#3 \(sha256:[0-9a-f]+\) is no longer on the docker engine, and a rollback never pulls/);
    const st = await status('staging');
    expect(st.rollout).toBeNull();
    expect(st.stable?.number).toBe(1);
    expect(st.instances.map((i) => `${i.release}:${i.state}`)).toEqual(['1:ready', '1:ready']);
  });

  it('a container killed behind slipway\'s back leaves the router, is replaced, and is removed from the engine', async () => {
    const [victim] = await running('production');
    await docker.getContainer(victim!.Id).kill();
    await waitFor('a replacement to be ready', async () => {
      const pr = await status('production');
      return pr.instances.length === 2 && pr.instances.every((i) => i.state === 'ready') && !pr.instances.some((i) => i.id === victim!.Labels['slipway.instance']);
    }, 30_000);
    await waitFor('the dead container to be removed', async () => (await containersOf(dataDir)).every((c) => c.Id !== victim!.Id));
    expect(await running('production')).toHaveLength(2);
  });

  it('a server killed with -9 comes back, re-adopts its containers without starting duplicates, removes an orphan, and logs what they said meanwhile exactly once', async () => {
    const before = (await containersOf(dataDir)).map((c) => c.Id).sort();
    const stagingIds = (await status('staging')).instances.map((i) => i.id);
    // A container of this data directory that no record knows (as a crash between a container's start and its record leaves).
    const dataDirLabel = (await containersOf(dataDir))[0]!.Labels['slipway.data-dir']!;
    const orphan = await docker.createContainer({
      Image: baseTag, Cmd: ['node', '-e', 'setInterval(() => {}, 1000)'],
      Labels: { 'slipway.data-dir': dataDirLabel, 'slipway.env': 'hello/staging', 'slipway.instance': 'hello.staging-9-0rphan' },
    });
    await orphan.start();
    await server.kill9();
    // The router outlives the server: these requests reach the containers, which log each one.
    const marker = `while-no-server-${Date.now()}`;
    for (let i = 0; i < 20; i++) await getJson(`${stagingUrl}?${marker}`).catch(() => undefined);
    server = await startServerProcess(dataDir, 'server2.log');
    const logOf = (id: string) => (existsSync(join(dataDir, 'logs', 'hello.staging', `${id}.log`)) ? readFileSync(join(dataDir, 'logs', 'hello.staging', `${id}.log`), 'utf8') : '');
    const markerLines = () => stagingIds.reduce((n, id) => n + logOf(id).split('\n').filter((l) => l.includes(marker)).length, 0);
    await waitFor('the requests made while no server ran to be logged', () => markerLines() >= 20);
    await new Promise((r) => setTimeout(r, 2000)); // time for a duplicate start (or a duplicate line) to show
    expect(markerLines()).toBe(20);
    await waitFor('the orphaned container to be removed', async () => (await containersOf(dataDir)).every((c) => c.Id !== orphan.id));
    expect((await containersOf(dataDir)).map((c) => c.Id).sort()).toEqual(before);
    expect((await status('staging')).instances.map((i) => i.id)).toEqual(stagingIds);
    expect((await status('production')).instances.map((i) => `${i.release}:${i.state}`)).toEqual(['2:ready', '2:ready']);
    const traffic = startTraffic({ url: stagingUrl, concurrency: 4, maxRequests: 400 });
    const s = await traffic.done;
    expect(s.failed, failures(s)).toBe(0);
  });
  it('blue-green on containers: the new colour answers on its preview address, one switch on promote under load with 0 failed, then the old colour goes', async () => {
    const preview = await freePort();
    const staging = { ...service.envs.staging!, strategyYaml: `type: blue-green\npreview_listen: 127.0.0.1:${preview}\nauto_promote: false\nscale_down_delay: 2s` };
    const serving = (await getJson<{ version: string }>(stagingUrl)).version;
    writeVersion('4.0.0', { envs: { ...service.envs, staging } });
    const stable = (await status('staging')).stable!.number;
    const r = await cli('deploy', 'staging', '--detach');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await waitForStep('staging', 'pause until promoted');
    // The step is recorded before the router is told (a crash between the two redoes
    // the push): the preview listener opens a moment after status shows the pause.
    await waitFor('the preview listener', async () => (await getJson<{ version: string }>(`http://127.0.0.1:${preview}/`).catch(() => null))?.version === '4.0.0', 10_000);
    expect(await getJson<{ version: string }>(stagingUrl)).toMatchObject({ version: serving });
    const traffic = startTraffic({ url: stagingUrl, concurrency: 8, maxDurationMs: 60_000, pauseMs: 2 });
    await new Promise((r2) => setTimeout(r2, 300));
    const p = await cli('promote', 'staging');
    expect(p.code, p.stdout + p.stderr).toBe(0);
    await waitFor('the switch to the new colour', async () => (await getJson<{ version: string }>(stagingUrl)).version === '4.0.0', 30_000);
    await new Promise((r2) => setTimeout(r2, 300));
    const s = await traffic.stop();
    expect(s.failed, failures(s)).toBe(0);
    expect(s.versions['4.0.0']).toBeGreaterThan(0);
    await waitFor('the rollout to end and the old colour to go', async () => {
      const st = await status('staging');
      return st.rollout === null && st.stable!.number > stable && (await running('staging')).every((c) => c.Labels['slipway.release'] === String(st.stable!.number));
    }, 60_000);
    expect(await running('staging')).toHaveLength(2);
  });
});
