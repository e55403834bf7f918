// Issue 19, "no listener can be stolen or block others": a deploy whose listen
// address is the server's own API, another environment's (current or in flight),
// or a port another process holds is refused before anything changes; and the
// server claims its API port before it touches the router, so a restart always
// gets it back. Real server, router, instances and CLI throughout.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import {
  apiFetch, freePort, getJson, killLeftovers, runCli, scratchDir, shutdownEverything, startServerProcess, writeService,
  type ServerProcess, type ServiceOptions,
} from './support/harness.ts';

/** A server on a fixed API port, so that a restart asks for the same one. */
const startServerAt = (dataDir: string, port: number, logName: string): Promise<ServerProcess> => startServerProcess(dataDir, logName, process.env, `127.0.0.1:${port}`);

/** A plain node server standing in for "some other program" on the machine. */
function holdPort(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer((c) => c.end());
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port }, () => resolve(s));
  });
}

interface CliError {
  error: { code: string; message: string; details: { key?: string; address?: string; holder?: { kind: string; env?: string } } };
}

describe('listen addresses that cannot be had are refused before anything changes', () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let apiPort: number;
  let ports: { staging: number; production: number; held: number; preview: number };
  let other: Server;
  let service: ServiceOptions;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir });

  const withStaging = (patch: Partial<ServiceOptions['envs'][string]>): ServiceOptions => ({
    ...service, version: '2.0.0', envs: { ...service.envs, staging: { ...service.envs.staging!, ...patch } },
  });

  /** 40 requests to each environment's address: all answered by release 1.0.0. */
  async function bothEnvironmentsStillServe(): Promise<void> {
    for (const port of [ports.staging, ports.production]) {
      const answers = await Promise.all(Array.from({ length: 40 }, () => fetch(`http://127.0.0.1:${port}/`).then(async (r) => `${r.status} ${((await r.json()) as { version: string }).version}`).catch((e: Error) => e.message)));
      expect(new Set(answers), `port ${port}`).toEqual(new Set(['200 1.0.0']));
    }
  }

  /** The refused deploy recorded no release, started no rollout, moved no listener. */
  async function nothingChanged(): Promise<void> {
    for (const env of ['staging', 'production']) {
      const s = await getJson<EnvironmentStatus>(`${server.url}/api/environments/${env}`);
      expect(s.stable?.number, env).toBe(1);
      expect(s.rollout, env).toBeNull();
      expect(s.listen, env).toBe(`127.0.0.1:${ports[env as 'staging' | 'production']}`);
      expect(s.listenError, env).toBeNull();
      const r = await getJson<{ releases: unknown[] }>(`${server.url}/api/environments/${env}/releases`);
      expect(r.releases, env).toHaveLength(1);
    }
    await bothEnvironmentsStillServe();
  }

  async function refusedDeploy(env: string): Promise<CliError['error']> {
    const r = await cli('--json', 'deploy', env);
    expect(r.code, r.stdout + r.stderr).not.toBe(0);
    return (JSON.parse(r.stdout) as CliError).error;
  }

  beforeAll(async () => {
    work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    apiPort = await freePort();
    ports = { staging: await freePort(), production: await freePort(), held: await freePort(), preview: await freePort() };
    other = await holdPort(ports.held);
    service = {
      version: '1.0.0',
      envs: {
        staging: { instances: 1, port: ports.staging },
        production: { instances: 1, port: ports.production },
      },
    };
    writeService(app, service);
    server = await startServerAt(dataDir, apiPort, 'server.log');
    for (const env of ['staging', 'production']) {
      const r = await cli('deploy', env);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    }
  });

  afterAll(async () => {
    await new Promise((r) => other?.close(r));
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it("refuses a listen on the server's own API port, naming the key, the address and the holder", async () => {
    writeService(app, withStaging({ port: apiPort }));
    const e = await refusedDeploy('staging');
    expect(e.code).toBe('E_LISTEN_CONFLICT');
    expect(e.message).toContain(`environments.staging.listen 127.0.0.1:${apiPort} is the slipway server's own API address`);
    expect(e.details).toMatchObject({ key: 'environments.staging.listen', address: `127.0.0.1:${apiPort}`, holder: { kind: 'server' } });
    await nothingChanged();
    expect((await apiFetch(`${server.url}/api/server`)).status).toBe(200);
  });

  it("refuses another environment's listen address, and 0.0.0.0 on its port", async () => {
    // One slipway.yaml cannot list two environments on one address (config validation
    // says so): the other environment comes from another service's file.
    const blog = join(work, 'blog');
    writeService(blog, { envs: { blog: { instances: 1, port: ports.production } } });
    const deployBlog = () => runCli(['--json', 'deploy', 'blog'], { cwd: blog, dataDir });
    const r = await deployBlog();
    expect(r.code, r.stdout + r.stderr).not.toBe(0);
    const e = (JSON.parse(r.stdout) as CliError).error;
    expect(e.code).toBe('E_LISTEN_CONFLICT');
    expect(e.message).toContain(`environments.blog.listen 127.0.0.1:${ports.production} is already used by environment "hello/production" (listen 127.0.0.1:${ports.production} of hello/production#1)`);
    expect(e.details.holder).toMatchObject({ kind: 'environment', env: 'hello/production' });
    await nothingChanged();
    // Not even the environment was recorded.
    expect((await apiFetch(`${server.url}/api/environments/blog`)).status).toBe(404);

    // The wildcard overlaps by rule; nothing is bound on 0.0.0.0 to find it out.
    const yaml = join(blog, 'slipway.yaml');
    writeFileSync(yaml, readFileSync(yaml, 'utf8').replace(`listen: 127.0.0.1:${ports.production}`, `listen: 0.0.0.0:${ports.production}`));
    const w = await deployBlog();
    expect(w.code).not.toBe(0);
    const we = (JSON.parse(w.stdout) as CliError).error;
    expect(we.code).toBe('E_LISTEN_CONFLICT');
    expect(we.message).toContain(`environments.blog.listen 0.0.0.0:${ports.production} is already used by environment "hello/production"`);
    await nothingChanged();
  });

  it('refuses a port that another process on the machine holds', async () => {
    writeService(app, withStaging({ port: ports.held }));
    const e = await refusedDeploy('staging');
    expect(e.code).toBe('E_LISTEN_CONFLICT');
    expect(e.message).toContain(`environments.staging.listen 127.0.0.1:${ports.held} is held by another process on this machine (EADDRINUSE)`);
    expect(e.details.holder).toMatchObject({ kind: 'process' });
    await nothingChanged();
    // `slipway plan` says so too, before anyone deploys.
    const p = await cli('--json', 'plan', 'staging');
    expect(p.code).not.toBe(0);
    expect((JSON.parse(p.stdout) as CliError).error.code).toBe('E_LISTEN_CONFLICT');
  });

  it("refuses the address of another environment's in-flight release (a blue-green preview)", async () => {
    const bg = `type: blue-green\npreview_listen: 127.0.0.1:${ports.preview}\nauto_promote: false\nscale_down_delay: 0s`;
    writeService(app, { ...service, version: '2.0.0', envs: { ...service.envs, production: { ...service.envs.production!, strategyYaml: bg } } });
    const d = await cli('deploy', 'production', '--detach');
    expect(d.code, d.stdout + d.stderr).toBe(0);
    try {
      writeService(app, withStaging({ port: ports.preview }));
      const e = await refusedDeploy('staging');
      expect(e.code).toBe('E_LISTEN_CONFLICT');
      expect(e.message).toContain(`environments.staging.listen 127.0.0.1:${ports.preview} is already used by environment "hello/production" (strategy.preview_listen 127.0.0.1:${ports.preview} of hello/production#2)`);
      const st = await getJson<EnvironmentStatus>(`${server.url}/api/environments/staging`);
      expect(st.stable?.number).toBe(1);
      expect(st.rollout).toBeNull();
    } finally {
      const a = await cli('abort', 'production', '--wait');
      expect(a.code, a.stdout + a.stderr).toBe(0);
    }
    const pr = await getJson<EnvironmentStatus>(`${server.url}/api/environments/production`);
    expect(pr.stable?.number).toBe(1);
    await bothEnvironmentsStillServe();
  });

  it('a restarted server gets its API port back on the same address, and everything still serves', async () => {
    await server.stop(); // the router and the instances outlive it
    server = await startServerAt(dataDir, apiPort, 'server2.log');
    expect(server.url).toBe(`http://127.0.0.1:${apiPort}`);
    const s = await cli('--json', 'status');
    expect(s.code, s.stderr).toBe(0);
    const envs = (JSON.parse(s.stdout) as { environments: EnvironmentStatus[] }).environments;
    expect(envs.map((x) => `${x.env} #${x.stable?.number} ${x.listen} ${x.listenError}`)).toEqual([
      `hello/production #1 127.0.0.1:${ports.production} null`,
      `hello/staging #1 127.0.0.1:${ports.staging} null`,
    ]);
    await bothEnvironmentsStillServe();
  });

  it('a server whose API address is taken exits non-zero with the reason, before it starts a router', async () => {
    const elsewhere = join(work, 'other-data');
    try {
      const r = await runCli(['server', '--listen', `127.0.0.1:${ports.held}`], { cwd: app, dataDir: elsewhere, timeoutMs: 30_000 });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(new RegExp(`E_LISTEN_FAILED.*the API cannot listen on 127\\.0\\.0\\.1:${ports.held}: .*EADDRINUSE`));
      expect(existsSync(join(elsewhere, 'router', 'router.json'))).toBe(false);
      expect(existsSync(join(elsewhere, 'server.json'))).toBe(false);
    } finally {
      killLeftovers(elsewhere);
    }
  });
});
