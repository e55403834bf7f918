// Issue 19, H3/H4, "host-level settings are the admin's, not the deployer's": a
// staging-only deployer's slipway.yaml that points the server's webhooks or
// Prometheus checks at the server itself, the router's admin API or any loopback
// port, or reads production's or the host's secrets, is refused E_POLICY_DENIED
// naming the key, before anything changes or is called; the admin widens the
// policy with `slipway policy set` and the same deploy goes through; a viewer's
// plan calls no Vault. Real server, router, instances and CLI throughout; the
// refusals after the first go to the same API from this process (the CLI only
// passes the server's refusal on, and a CLI process per case was most of the time).

import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import { deployThroughApi } from './support/api-deploy.ts';
import { FakeVault } from './support/fake-vault.ts';
import {
  freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService,
  type ServerProcess, type ServiceOptions,
} from './support/harness.ts';

interface CliError {
  error: { code: string; message: string; details: { key?: string; rule?: string } };
}

/** An HTTP listener on loopback that counts what reaches it: a stand-in for anything on the machine. */
async function countingListener(): Promise<{ server: Server; port: number; hits: () => number }> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    req.resume();
    res.end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, hits: () => hits };
}

describe("the admin's policy bounds what a deployer's slipway.yaml may ask of the host", () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let vault: FakeVault;
  let listener: Awaited<ReturnType<typeof countingListener>>;
  let service: ServiceOptions;
  const tokens = { stagingDeployer: '', viewer: '' };
  const cli = (args: string[], o: { token?: string; input?: string } = {}) =>
    runCli(args, { cwd: app, dataDir, ...(o.input !== undefined ? { input: o.input } : {}), ...(o.token ? { env: { SLIPWAY_TOKEN: o.token } } : {}) });

  const stagingWith = (extraYaml: string): ServiceOptions => ({
    ...service, version: '2.0.0', envs: { ...service.envs, staging: { ...service.envs.staging!, extraYaml } },
  });

  async function makeToken(user: string, role: string, env?: string): Promise<string> {
    const r = await cli(['--json', 'token', 'create', '--user', user, '--role', role, ...(env ? ['--env', env] : [])]);
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { token: string }).token;
  }

  /** Staging still runs release #1 alone: nothing recorded, nothing started. */
  async function nothingChanged(): Promise<void> {
    const s = await getJson<EnvironmentStatus>(`${server.url}/api/environments/staging`);
    expect(s.stable?.number).toBe(1);
    expect(s.rollout).toBeNull();
    const r = await getJson<{ releases: unknown[] }>(`${server.url}/api/environments/staging/releases`);
    expect(r.releases).toHaveLength(1);
  }

  async function deployAsStagingDeployer(extraYaml: string) {
    writeService(app, stagingWith(extraYaml));
    return cli(['--json', 'deploy', 'staging'], { token: tokens.stagingDeployer });
  }

  async function refused(extraYaml: string): Promise<CliError['error']> {
    const r = await deployAsStagingDeployer(extraYaml);
    expect(r.code, r.stdout + r.stderr).not.toBe(0);
    return (JSON.parse(r.stdout) as CliError).error;
  }

  /** As refused(), through the API the CLI calls, from this process. */
  async function refusedByApi(extraYaml: string): Promise<CliError['error']> {
    writeService(app, stagingWith(extraYaml));
    const r = await deployThroughApi({ url: server.url, token: tokens.stagingDeployer, dir: app, env: 'staging' });
    if (r.ok) throw new Error(`deploy of ${extraYaml} was not refused: ${JSON.stringify(r.answer)}`);
    return r.error as CliError['error'];
  }

  /** The router's admin API, where this version of the router still serves one over HTTP. */
  function routerAdminUrl(): string | null {
    const file = join(dataDir, 'router', 'router.json');
    if (!existsSync(file)) return null;
    const url = (JSON.parse(readFileSync(file, 'utf8')) as { adminUrl?: unknown }).adminUrl;
    return typeof url === 'string' && url.startsWith('http') ? url : null;
  }

  beforeAll(async () => {
    work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    vault = await new FakeVault({ tokens: ['s.policy-test'] }).start();
    vault.put('secret', 'production/db', { password: 'production-password-Xq9' });
    vault.put('secret', 'hello/staging/db', { password: 'staging-password-Vb7' });
    listener = await countingListener();
    service = { envs: { staging: { instances: 1, port: await freePort() }, production: { instances: 1, port: await freePort() } } };
    writeService(app, service);
    server = await startServerProcess(dataDir, 'server.log', {
      ...process.env, VAULT_ADDR: vault.url, VAULT_TOKEN: 's.policy-test',
      SLIPWAY_SECRET_PRODUCTION_X: 'production-only-value-Jk4', SLIPWAY_SECRET_STAGING_X: 'staging-own-value-Pz2',
    });
    const first = await cli(['deploy', 'staging']);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    [tokens.stagingDeployer, tokens.viewer] = await Promise.all([makeToken('stella', 'deployer', 'staging'), makeToken('vic', 'viewer')]);
  }, 120_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
    await vault?.close();
    await new Promise((r) => listener?.server.close(r));
  });

  it('refuses every setting that reaches beyond staging, naming the key, and changes nothing', async () => {
    const vaultBefore = vault.requests.length;
    const cases: [string, string, string][] = [
      [`notifications:\n  - url: ${server.url}/api/environments/production/deploys`, 'environments.staging.notifications[0].url', 'outbound.server'],
      [`notifications:\n  - url: http://127.0.0.1:${listener.port}/hook`, 'environments.staging.notifications[0].url', 'outbound'],
      [`notifications:\n  - url: http://localhost:${listener.port}/hook`, 'environments.staging.notifications[0].url', 'outbound'],
      [`notifications:\n  - url: http://169.254.169.254/latest/meta-data/`, 'environments.staging.notifications[0].url', 'outbound'],
      [`analysis:\n  prometheus:\n    - { name: up, query: up, url: 'http://127.0.0.1:${listener.port}', max: 1 }`, 'environments.staging.analysis.prometheus[0].url', 'outbound'],
      ['secrets:\n  DB_PASSWORD: { vault: { path: production/db, key: password } }', 'environments.staging.secrets.DB_PASSWORD.vault.path', 'secrets.vault'],
      ['secrets:\n  X: { env: SLIPWAY_SECRET_PRODUCTION_X }', 'environments.staging.secrets.X.env', 'secrets.env'],
      ['secrets:\n  SHADOW: { file: /etc/shadow }', 'environments.staging.secrets.SHADOW.file', 'secrets.file'],
    ];
    const admin = routerAdminUrl();
    if (admin) cases.push([`notifications:\n  - url: ${admin}/shutdown`, 'environments.staging.notifications[0].url', 'outbound.server']);
    for (const [i, [yaml, key, rule]] of cases.entries()) {
      const e = i === 0 ? await refused(yaml) : await refusedByApi(yaml);
      const expectedKey = key;
      expect(e.code, yaml).toBe('E_POLICY_DENIED');
      expect(e.details.key, yaml).toBe(expectedKey);
      expect(e.details.rule, yaml).toBe(rule);
      expect(e.message, yaml).toContain(expectedKey);
      expect(e.message, yaml).toMatch(/Nothing was changed/);
      await nothingChanged();
    }
    // Nothing was called: no Vault read of production's path, no hit on the loopback listener.
    await new Promise((r) => setTimeout(r, 1500));
    expect(vault.requests.slice(vaultBefore).filter((r) => r.url.includes('production'))).toEqual([]);
    expect(listener.hits()).toBe(0);
  }, 180_000);

  it('audits a refused deploy as denied', async () => {
    const r = await cli(['--json', 'audit', '--env', 'staging', '--actor', 'stella']);
    expect(r.code, r.stderr).toBe(0);
    const entries = (JSON.parse(r.stdout) as { entries: { action: string; outcome: string }[] }).entries;
    expect(entries.some((e) => e.outcome === 'denied')).toBe(true);
  });

  it('lets a deployer read the policy but not set it', async () => {
    const show = await cli(['--json', 'policy', 'show'], { token: tokens.stagingDeployer });
    expect(show.code, show.stderr).toBe(0);
    expect((JSON.parse(show.stdout) as { version: unknown; defaults: string[] }).version).toBeNull();
    const set = await cli(['--json', 'policy', 'set', '-'], { token: tokens.stagingDeployer, input: "environments: { staging: { outbound: { allow: ['http://*:*'] } } }\n" });
    expect(set.code).not.toBe(0);
    expect((JSON.parse(set.stdout) as CliError).error.code).toBe('E_FORBIDDEN');
    expect((JSON.parse((await cli(['--json', 'policy', 'show'])).stdout) as { version: unknown }).version).toBeNull();
  });

  it('refuses a bad policy file with its line, and keeps the policy as it was', async () => {
    const r = await cli(['--json', 'policy', 'set', '-'], { input: "environments:\n  staging:\n    outbound: { allow: ['ftp://x'] }\n" });
    expect(r.code).not.toBe(0);
    const e = (JSON.parse(r.stdout) as CliError).error;
    expect(e.code).toBe('E_CONFIG_INVALID');
    expect(e.message).toMatch(/policy\.yaml:3:\d+ environments\.staging\.outbound\.allow\[0\]/);
    expect((JSON.parse((await cli(['--json', 'policy', 'show'])).stdout) as { version: unknown }).version).toBeNull();
  });

  it('takes the loopback webhook once the admin allows it, and audits the change', async () => {
    const policy = `environments:\n  staging:\n    outbound:\n      allow: ['http://127.0.0.1:${listener.port}']\n`;
    const set = await cli(['policy', 'set', '-'], { input: policy });
    expect(set.code, set.stdout + set.stderr).toBe(0);
    const show = await cli(['policy', 'show']);
    expect(show.stdout).toContain(`http://127.0.0.1:${listener.port}`);

    const r = await deployAsStagingDeployer(`notifications:\n  - url: http://127.0.0.1:${listener.port}/hook`);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await waitFor('a webhook delivery', () => listener.hits() > 0, 30_000);
    // The allowance is staging's and this URL's alone: production's own port is still refused.
    const other = await refusedByApi(`notifications:\n  - url: http://127.0.0.1:${listener.port + 1}/hook`);
    expect(other.code).toBe('E_POLICY_DENIED');

    const audit = JSON.parse((await cli(['--json', 'audit', '--action', 'policy.set'])).stdout) as { entries: { actor: string; outcome: string }[] };
    expect(audit.entries.map((e) => `${e.actor} ${e.outcome}`)).toContain('admin ok');
  }, 120_000);

  it("holds a config rollout and a rollback to today's policy, not the one their release was made under", async () => {
    // Staging's stable release (#2) has the loopback webhook the admin allowed; now the admin takes it back.
    expect((await getJson<EnvironmentStatus>(`${server.url}/api/environments/staging`)).stable?.number).toBe(2);
    expect((await cli(['policy', 'set', '-'], { input: '' })).code).toBe(0);
    const config = await cli(['--json', 'config', 'set', 'staging', 'GREETING=hi']);
    expect(config.code).not.toBe(0);
    const ce = (JSON.parse(config.stdout) as CliError).error;
    expect(ce.code).toBe('E_POLICY_DENIED');
    expect(ce.details.key).toBe('environments.staging.notifications[0].url');
    expect(ce.message).toMatch(/^config rollout of hello\/staging#2 refused/);
    // A release without the webhook goes through; going back to #2 would call it again, and is refused.
    writeService(app, { ...service, version: '3.0.0' });
    const clean = await cli(['deploy', 'staging'], { token: tokens.stagingDeployer });
    expect(clean.code, clean.stdout + clean.stderr).toBe(0);
    const hitsBefore = listener.hits();
    const back = await cli(['--json', 'rollback', 'staging', '--to', '2'], { token: tokens.stagingDeployer });
    expect(back.code).not.toBe(0);
    const be = (JSON.parse(back.stdout) as CliError).error;
    expect(be.code).toBe('E_POLICY_DENIED');
    expect(be.details.key).toBe('environments.staging.notifications[0].url');
    expect(be.message).toMatch(/^rollback to hello\/staging#2 refused/);
    const s = await getJson<EnvironmentStatus>(`${server.url}/api/environments/staging`);
    expect(s.stable?.number).toBe(3);
    expect(s.rollout).toBeNull();
    expect(listener.hits() - hitsBefore).toBeLessThanOrEqual(0);
  }, 120_000);

  it("gives a viewer's plan no Vault call, no secret read and no port probe, and says so", async () => {
    writeService(app, stagingWith('secrets:\n  DB_PASSWORD: { vault: { path: hello/staging/db, key: password } }'));
    const before = vault.requests.length;
    const viewer = await cli(['--json', 'plan', 'staging'], { token: tokens.viewer });
    expect(viewer.code, viewer.stdout + viewer.stderr).toBe(0);
    expect((JSON.parse(viewer.stdout) as { limited?: string }).limited).toMatch(/no secret was read/);
    expect(vault.requests.length).toBe(before);
    // The same plan by staging's deployer is the full check, which does ask Vault.
    const deployer = await cli(['--json', 'plan', 'staging'], { token: tokens.stagingDeployer });
    expect(deployer.code, deployer.stdout + deployer.stderr).toBe(0);
    expect((JSON.parse(deployer.stdout) as { limited?: string }).limited).toBeUndefined();
    expect(vault.requests.length).toBeGreaterThan(before);
    // A viewer's plan of a reference beyond the policy is refused as the deploy would be, still without a call.
    writeService(app, stagingWith('secrets:\n  DB_PASSWORD: { vault: { path: production/db, key: password } }'));
    const after = vault.requests.length;
    const denied = await cli(['--json', 'plan', 'staging'], { token: tokens.viewer });
    expect((JSON.parse(denied.stdout) as CliError).error.code).toBe('E_POLICY_DENIED');
    expect(vault.requests.length).toBe(after);
  }, 60_000);
});
