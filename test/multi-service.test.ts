// Issue 16: one server, many services. Two real services (shop and blog), each with
// a `production` environment, share one listen address split by hosts:, deployed
// with the real CLI from their own directories. A deploy of one never touches the
// other, a deploy cannot name the other's environment, and a data directory made
// before services were first-class keeps its history after the upgrade.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTraffic, type TrafficStats } from '../src/cli/traffic.ts';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import { apiFetch, freePort, getJson, REPO, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type ServerProcess, type ServiceOptions } from './support/harness.ts';

interface CliError {
  error: { code: string; message: string; details: Record<string, unknown> };
}

const errorOf = (stdout: string): CliError['error'] => (JSON.parse(stdout) as CliError).error;

describe('two services, each with a production, on one server and one listener', () => {
  let work: string;
  let shopDir: string;
  let blogDir: string;
  let dataDir: string;
  let server: ServerProcess;
  let port: number;
  let listen: string;
  let shop: ServiceOptions;
  let blog: ServiceOptions;
  const cliIn = (dir: string, ...args: string[]) => runCli(args, { cwd: dir, dataDir });
  const status = (key: string) => getJson<EnvironmentStatus>(`${server.url}/api/environments/${encodeURIComponent(key)}`);

  async function get(host: string): Promise<{ status: number; json: Record<string, unknown> }> {
    const res = await request(`http://${listen}/`, { headers: { host } });
    return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> };
  }

  /** Everything a deploy of the other service must leave as it was. */
  async function recordOf(key: string) {
    const s = await status(key);
    const path = `${server.url}/api/environments/${encodeURIComponent(key)}`;
    return {
      service: s.service, listen: s.listen, stable: s.stable, lastRollout: s.lastRollout?.id ?? null, weights: s.weights,
      instances: s.instances.map((i) => ({ id: i.id, release: i.release, state: i.state, port: i.port, pid: i.pid })),
      releases: await getJson<unknown>(`${path}/releases`),
      config: await getJson<unknown>(`${path}/config/versions`),
      secrets: await getJson<unknown>(`${path}/secrets`),
    };
  }

  beforeAll(async () => {
    work = scratchDir();
    shopDir = join(work, 'shop');
    blogDir = join(work, 'blog');
    dataDir = join(work, '.slipway');
    port = await freePort();
    listen = `127.0.0.1:${port}`;
    shop = { service: 'shop', envs: { production: { instances: 2, port, extraYaml: 'hosts: [shop.example.com]', config: { GREETING: 'shop' } } } };
    blog = { service: 'blog', envs: { production: { instances: 2, port, extraYaml: 'hosts: [blog.example.com]', config: { GREETING: 'blog' } } } };
    writeService(shopDir, shop);
    writeService(blogDir, blog);
    server = await startServerProcess(dataDir);
    for (const dir of [shopDir, blogDir]) {
      const r = await cliIn(dir, 'deploy', 'production');
      expect(r.code, r.stdout + r.stderr).toBe(0);
    }
  }, 180_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  }, 180_000);

  it('keeps shop/production and blog/production apart: status lists both by service, each answers on its host', async () => {
    // Five reads, side by side: each CLI process takes seconds to start on a loaded machine.
    const [all, text, inShop, asBlog, bare] = await Promise.all([
      cliIn(work, '--json', 'status'),
      cliIn(work, 'status'),
      cliIn(shopDir, '--json', 'status', 'production'),
      cliIn(work, '--json', '--service', 'blog', 'status', 'production'),
      cliIn(work, '--json', 'status', 'production'),
    ]);
    expect(all.code, all.stderr).toBe(0);
    const envs = (JSON.parse(all.stdout) as { environments: EnvironmentStatus[] }).environments;
    expect(envs.map((e) => [e.env, e.service, e.name, e.stable?.number, e.listen])).toEqual([
      ['blog/production', 'blog', 'production', 1, listen],
      ['shop/production', 'shop', 'production', 1, listen],
    ]);
    expect(text.stdout).toMatch(/service blog\n\S*blog\/production[\s\S]*service shop\n\S*shop\/production/);
    expect(await get('shop.example.com')).toMatchObject({ status: 200, json: { greeting: 'shop' } });
    expect(await get('blog.example.com')).toMatchObject({ status: 200, json: { greeting: 'blog' } });
    // A bare name: the service of the directory the command runs in, or --service.
    expect(JSON.parse(inShop.stdout)).toMatchObject({ env: 'shop/production' });
    expect(JSON.parse(asBlog.stdout)).toMatchObject({ env: 'blog/production' });
    // Outside both, with two productions, it is refused, naming both.
    expect(bare.code).not.toBe(0);
    expect(errorOf(bare.stdout)).toMatchObject({ code: 'E_ENV_AMBIGUOUS', message: expect.stringContaining('blog/production, shop/production') });
  }, 180_000);

  it('rolls blog to v2 under load (2,000+ requests to each host): 0 failed for both, shop\'s records untouched', async () => {
    const shopBefore = await recordOf('shop/production');
    const load = (host: string) => startTraffic({ url: `http://${listen}/`, concurrency: 4, pauseMs: 5, maxRequests: 6_000, maxDurationMs: 60_000, headers: { host } });
    const traffic = { blog: load('blog.example.com'), shop: load('shop.example.com') };
    await new Promise((r) => setTimeout(r, 300));
    writeService(blogDir, { ...blog, version: '2.0.0' });
    const deploy = await cliIn(blogDir, 'deploy', 'production');
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && (traffic.blog.stats().sent < 2_000 || traffic.shop.stats().sent < 2_000)) await new Promise((r) => setTimeout(r, 50));
    const [b, s]: [TrafficStats, TrafficStats] = await Promise.all([traffic.blog.stop(), traffic.shop.stop()]);
    console.log(`rolling blog/production beside shop/production: blog ${b.ok}/${b.sent} ok ${JSON.stringify(b.versions)}, shop ${s.ok}/${s.sent} ok ${JSON.stringify(s.versions)}`);
    expect(deploy.code, deploy.stdout + deploy.stderr).toBe(0);
    expect(b.sent).toBeGreaterThanOrEqual(2_000);
    expect(s.sent).toBeGreaterThanOrEqual(2_000);
    expect(b.failed, JSON.stringify({ errors: b.errors, byStatus: b.byStatus })).toBe(0);
    expect(s.failed, JSON.stringify({ errors: s.errors, byStatus: s.byStatus })).toBe(0);
    expect(b.versions['2.0.0']).toBeGreaterThan(0);
    expect(Object.keys(s.versions)).toEqual(['1.0.0']);
    expect((await status('blog/production')).stable?.number).toBe(2);
    expect(await recordOf('shop/production')).toEqual(shopBefore);
  }, 180_000);

  it('refuses a deploy that names the other service\'s environment, and a config change stays in its own service', async () => {
    const shopBefore = await recordOf('shop/production');
    // The clobber of old: blog's slipway.yaml aimed at shop's production.
    const clobber = await cliIn(blogDir, '--json', 'deploy', 'shop/production');
    expect(clobber.code).not.toBe(0);
    expect(errorOf(clobber.stdout)).toMatchObject({ code: 'E_SERVICE_MISMATCH', message: expect.stringContaining('shop/production is an environment of service "shop"') });
    // Through the API too, where no CLI checks first: the server makes the key from the config's service.
    const digest = `sha256:${'0'.repeat(64)}`;
    const raw = await apiFetch(`${server.url}/api/environments/shop%2Fproduction/deploys`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ artefact: digest, config: { text: `service: blog\nrun: { command: node server.js }\nenvironments:\n  production: { listen: 127.0.0.1:${port}, hosts: [blog.example.com] }\n` } }),
    });
    expect(raw.status).toBe(409);
    expect(((await raw.json()) as CliError).error.code).toBe('E_SERVICE_MISMATCH');
    // blog's config and secrets are blog's alone.
    const set = await cliIn(blogDir, 'config', 'set', 'production', 'FEATURE=on');
    expect(set.code, set.stdout + set.stderr).toBe(0);
    const secret = await runCli(['secret', 'set', 'production', 'API_KEY'], { cwd: blogDir, dataDir, input: 'blog-only-value\n' });
    expect(secret.code, secret.stdout + secret.stderr).toBe(0);
    expect(await recordOf('shop/production')).toEqual(shopBefore);
    const blogConfig = JSON.parse((await cliIn(blogDir, '--json', 'config', 'list', 'production')).stdout) as { entries: { key: string }[] };
    expect(blogConfig.entries.map((e) => e.key)).toEqual(expect.arrayContaining(['FEATURE', 'API_KEY']));
  }, 180_000);

  it('limits a token to one service\'s production: it deploys there, and only reads the other\'s', async () => {
    const made = await apiFetch(`${server.url}/api/tokens`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'shop-ci', role: 'deployer', envs: ['shop/production'] }),
    });
    expect(made.status).toBe(201);
    const { token: secret } = (await made.json()) as { token: string };
    const as = (dir: string, ...args: string[]) => runCli(['--json', ...args], { cwd: dir, dataDir, env: { SLIPWAY_TOKEN: secret } });
    // Side by side: none of them changes anything.
    const [denied, read, pause] = await Promise.all([as(blogDir, 'rollback', 'production'), as(blogDir, 'status', 'production'), as(shopDir, 'pause', 'production')]);
    expect(denied.code).not.toBe(0);
    expect(errorOf(denied.stdout)).toMatchObject({ code: 'E_FORBIDDEN', message: expect.stringContaining('needs the "deploy" permission in blog/production; this token\'s role applies only in shop/production') });
    expect(read.code).toBe(0);
    // Allowed, and refused only because nothing is rolling out.
    expect(errorOf(pause.stdout).code).toBe('E_ROLLOUT_STATE');
  }, 180_000);
});

describe('a data directory made before services were first-class', () => {
  // The release before issue 16: its own CLI and server make the data directory.
  const BEFORE = '5abbe54';
  let work: string;
  let dataDir: string;
  let server: ServerProcess | null = null;

  afterAll(async () => {
    if (dataDir) await shutdownEverything(server?.url ?? null, dataDir);
  }, 180_000);

  it('upgrades in place: its one service keeps its environments, releases, config and audit trail, and deploys on', async () => {
    work = scratchDir();
    dataDir = join(work, '.slipway');
    const old = join(work, 'slipway-before');
    mkdirSync(old);
    // From the repository's own history; node_modules are today's. The old server loads uPlot,
    // which the dashboard no longer ships: it stays a dev dependency for this test alone.
    execFileSync('sh', ['-c', `git -C "${REPO}" archive ${BEFORE} | tar -x -C "${old}"`]);
    symlinkSync(join(REPO, 'node_modules'), join(old, 'node_modules'));
    const oldBin = join(old, 'bin', 'slipway.js');
    const app = join(work, 'app');
    const port = await freePort();
    writeService(app, { envs: { production: { instances: 1, port, config: { GREETING: 'before' } } } });
    const oldServer = await startServerProcess(dataDir, 'old-server.log', process.env, '127.0.0.1:0', oldBin);
    const deployed = await runCli(['deploy', 'production'], { cwd: app, dataDir, bin: oldBin });
    expect(deployed.code, deployed.stdout + deployed.stderr).toBe(0);
    const setOld = await runCli(['config', 'set', 'production', 'COLOUR=blue'], { cwd: app, dataDir, bin: oldBin });
    expect(setOld.code, setOld.stdout + setOld.stderr).toBe(0);
    await shutdownEverything(oldServer.url, dataDir);

    server = await startServerProcess(dataDir);
    // Four reads, side by side.
    const [statusOut, releasesOut, configOut, auditOut] = await Promise.all([
      runCli(['--json', 'status'], { cwd: work, dataDir }),
      runCli(['--json', 'releases', 'production'], { cwd: app, dataDir }),
      runCli(['--json', 'config', 'list', 'production'], { cwd: app, dataDir }),
      runCli(['--json', 'audit', '--env', 'production'], { cwd: app, dataDir }),
    ]);
    const s = JSON.parse(statusOut.stdout) as { environments: EnvironmentStatus[] };
    // #1 the deploy, #2 the config change rolled out as a release of the same artefact.
    expect(s.environments.map((e) => [e.env, e.service, e.stable?.number])).toEqual([['hello/production', 'hello', 2]]);
    const releases = JSON.parse(releasesOut.stdout) as { releases: { number: number }[] };
    expect(releases.releases.map((r) => r.number)).toEqual([2, 1]);
    const config = JSON.parse(configOut.stdout) as { entries: { key: string; value?: string }[] };
    expect(config.entries).toEqual(expect.arrayContaining([expect.objectContaining({ key: 'COLOUR', value: 'blue' })]));
    const audit = JSON.parse(auditOut.stdout) as { entries: { action: string }[] };
    expect(audit.entries.map((e) => e.action)).toEqual(expect.arrayContaining(['deploy', 'config.set']));
    // It serves again, and the next deploy is release #3 of the same environment.
    writeService(app, { version: '2.0.0', envs: { production: { instances: 1, port, config: { GREETING: 'after' } } } });
    const next = await runCli(['deploy', 'production'], { cwd: app, dataDir });
    expect(next.code, next.stdout + next.stderr).toBe(0);
    const after = await getJson<EnvironmentStatus>(`${server.url}/api/environments/hello%2Fproduction`);
    expect(after.stable?.number).toBe(3);
    const answer = await request(`http://127.0.0.1:${port}/`);
    expect(((await answer.body.json()) as { version: string }).version).toBe('2.0.0');
    expect(existsSync(join(dataDir, 'state.db'))).toBe(true);
  }, 240_000);
});
