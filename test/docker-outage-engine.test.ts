// What an operator sees while the Docker engine cannot be reached: a rollout that
// says once what it waits for (not its step line on every pass), a server log that
// says once that an instance's state is unknown (not four times a second), a status
// that names the trouble, and a `down` whose containers stop once the engine is back.
// The server talks to the real engine through a socket relay (DOCKER_HOST) that the
// test cuts and restores, as in docker-engine-restart.test.ts.

import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RolloutEventRecord } from '../src/core/records.ts';
import type { EnvironmentStatus, RolloutView } from '../src/engine/status-view.ts';
import { EngineRelay, containersOf, docker, dockerIsAvailable, ensureNodeImage, helloDockerfile, removeContainersOf } from './support/docker.ts';
import { freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';

const available = await dockerIsAvailable();
const SERVICE = 'dxoutage';


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!available)('the docker engine out of reach', { timeout: 180_000 }, () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let relay: EngineRelay;
  let port: number;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir });
  const status = () => getJson<EnvironmentStatus>(`${server.url}/api/environments/${SERVICE}%2Fstaging`);
  const events = async (id: number) => (await getJson<{ rollout: RolloutView; events: RolloutEventRecord[] }>(`${server.url}/api/rollouts/${id}/events?wait=0`));
  const serverLog = () => readFileSync(join(work, 'server.log'), 'utf8').split('\n');
  const logLinesWith = (text: string) => serverLog().filter((l) => l.includes(text));
  const write = (version: string) => writeService(app, {
    service: SERVICE, version, health: { startDeadline: '30s' },
    envs: { staging: { instances: 1, port, strategyYaml: 'type: blue-green\nauto_promote: true\nscale_down_delay: 3s', extraYaml: 'runtime: docker' } },
  });

  beforeAll(async () => {
    const base = await ensureNodeImage();
    work = scratchDir();
    app = join(work, 'app');
    dataDir = join(work, '.slipway');
    port = await freePort();
    write('1.0.0');
    writeFileSync(join(app, 'Dockerfile'), helloDockerfile(base.tag));
    relay = new EngineRelay(join(work, 'engine.sock'));
    await relay.up();
    server = await startServerProcess(dataDir, 'server.log', { ...process.env, DOCKER_HOST: `unix://${relay.path}` });
    const d = await cli('deploy', 'staging');
    expect(d.code, d.stdout + d.stderr).toBe(0);
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

  it('a rollout that cannot stop the old colour says once what it waits for and once that it goes on; the log says once that an instance\'s state is unknown, and status why', async () => {
    write('1.0.1');
    const d = await cli('deploy', 'staging', '--detach');
    expect(d.code, d.stdout + d.stderr).toBe(0);
    let id = 0;
    await waitFor('the rollout to keep the old colour warm', async () => {
      const r = (await status()).rollout;
      if (!r) return false;
      id = r.id;
      return (await events(id)).events.some((e) => e.message.startsWith('step 3/4'));
    }, 60_000);
    await relay.cut();
    // The 3 s delay ends, then the pass that stops the old colour meets the missing engine many times over.
    await sleep(7000);
    const during = await events(id);
    const msgs = during.events.map((e) => `${e.level} ${e.message}`);
    expect(during.rollout.phase, msgs.join('\n')).toBe('progressing');
    expect(msgs.filter((m) => m.startsWith(`info step 4/4: ${SERVICE}/staging#1 to 0`)), msgs.join('\n')).toHaveLength(1);
    const waiting = msgs.filter((m) => m.startsWith('warn step 4/4: waiting: cannot reach the Docker engine at unix://'));
    expect(waiting, msgs.join('\n')).toHaveLength(1);

    // The instances' state is unknown: said once each in the server's log, and by status.
    const unknown = logLinesWith('could not tell whether an instance runs');
    expect(unknown.length, unknown.join('\n')).toBeGreaterThan(0);
    expect(unknown.length, unknown.join('\n')).toBeLessThanOrEqual(2);
    const s = await cli('status', 'staging');
    expect(s.stdout).toMatch(/runtime: +cannot reach the Docker engine at unix:\/\//);
    expect((await status()).runtimeUnreachable).toMatch(/^cannot reach the Docker engine at unix:\/\//);

    await relay.up();
    await waitFor('the rollout to succeed once the engine is back', async () => (await events(id)).rollout.phase === 'succeeded', 60_000);
    const after = (await events(id)).events.map((e) => `${e.level} ${e.message}`);
    expect(after.filter((m) => m.startsWith('info step 4/4: going on')), after.join('\n')).toHaveLength(1);
    expect(after.filter((m) => m.includes('waiting:')), after.join('\n')).toHaveLength(1);
    expect(logLinesWith('the state of an instance is known again').length).toBeGreaterThan(0);
    expect((await status()).runtimeUnreachable).toBeNull();
    expect((await cli('status', 'staging')).stdout).not.toMatch(/runtime: /);
  });

  it('down while the engine is away stops the containers once it is back', async () => {
    await relay.up();
    await waitFor('the rollout to be over and one container to run', async () => (await status()).rollout === null && (await containersOf(dataDir, false)).length === 1, 60_000);
    await relay.cut();
    const d = await cli('down', 'staging');
    expect(d.code, d.stdout + d.stderr).not.toBe(0);
    expect((await status()).stable).toBeNull();
    await sleep(2000);
    await relay.up();
    await waitFor('the container to stop once the engine is back', async () => (await containersOf(dataDir, false)).length === 0 && (await status()).instances.length === 0, 45_000);
    // What down answered said so.
    expect(d.stderr).toMatch(/staging is down \(no traffic reaches it\), but not every instance stopped: cannot reach the Docker engine at .*; the server keeps trying/);
  });
});
