// Issue 22: taking things out of service without `ps` and `kill`. `slipway down`
// stops an environment's instances and releases its listener, keeping its history;
// a deploy brings it back. `slipway remove` also forgets it (audit entries stay),
// asks on a terminal, and is refused while a rollout runs or to a non-admin. An
// environment deleted from slipway.yaml is reported by `plan` and `status`. All of
// it against a real server, router and instances, with the CLI run as a user runs it.
// On a listener shared by hosts, the down environment's hosts get the router's own 404.
// A rollout after a removal never takes the id of a removed one the audit log names.

import { createServer } from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import {
  apiFetch, freePort, getJson, isPidAlive, liveInstanceRows, runCli, scratchDir, shutdownEverything, startServerProcess, writeService,
  type ServerProcess, type ServiceOptions,
} from './support/harness.ts';

interface CliError {
  error: { code: string; message: string };
}

/** Whether something accepts connections on the port (the router's listener). */
async function answersOn(port: number): Promise<boolean> {
  try {
    const res = await request(`http://127.0.0.1:${port}/`, { headersTimeout: 2000 });
    await res.body.dump();
    return true;
  } catch {
    return false;
  }
}

/** Binds the port for a moment: true when nothing else holds it. */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ host: '127.0.0.1', port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

describe('slipway down and slipway remove', { timeout: 180_000 }, () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let service: ServiceOptions;
  let stagingPort: number;
  const cli = (args: string[], o: { token?: string } = {}) => runCli(args, { cwd: app, dataDir, timeoutMs: 90_000, ...(o.token ? { env: { SLIPWAY_TOKEN: o.token } } : {}) });
  const status = (env: string) => getJson<EnvironmentStatus>(`${server.url}/api/environments/${encodeURIComponent(env)}`);
  const errorOf = (stdout: string) => (JSON.parse(stdout) as CliError).error;
  const livePids = (env: string) => liveInstanceRows(dataDir).filter((i) => i.env === env).map((i) => i.pid!);

  async function makeToken(user: string, role: string): Promise<string> {
    const r = await cli(['--json', 'token', 'create', '--user', user, '--role', role]);
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { token: string }).token;
  }

  beforeAll(async () => {
    work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    stagingPort = await freePort();
    service = {
      envs: {
        staging: { instances: 2, port: stagingPort },
        production: { instances: 1, port: await freePort(), strategyYaml: 'type: canary\nsteps:\n  - weight: 50\n  - pause: {}' },
      },
    };
    writeService(app, service);
    server = await startServerProcess(dataDir);
    // Two environments on listeners of their own, deployed side by side.
    for (const r of await Promise.all([cli(['deploy', 'staging']), cli(['deploy', 'production'])])) expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('down stops the instances and releases the listener, keeps the history; deploy brings it up again', async () => {
    const pids = livePids('hello/staging');
    expect(pids).toHaveLength(2);
    expect(await answersOn(stagingPort)).toBe(true);

    const r = await cli(['down', 'staging']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/down hello\/staging \(it ran #1\): 2 instance\(s\) stopped, its listen address released/);
    expect(pids.filter(isPidAlive)).toEqual([]);
    expect(livePids('hello/staging')).toEqual([]);
    expect(await answersOn(stagingPort)).toBe(false);
    expect(await canBind(stagingPort)).toBe(true);
    // Production was not touched.
    expect(livePids('hello/production')).toHaveLength(1);

    const s = await status('hello/staging');
    expect(s.down).toMatchObject({ by: expect.any(String), release: 1 });
    expect(s.stable).toBeNull();
    expect(s.instances).toEqual([]);
    const human = await cli(['status', 'staging']);
    expect(human.stdout).toMatch(/down +since .* \(it ran #1\); `slipway deploy hello\/staging` in its service's directory brings it up/);
    const releases = await getJson<{ releases: unknown[] }>(`${server.url}/api/environments/hello%2Fstaging/releases`);
    expect(releases.releases).toHaveLength(1);
    const audit = await getJson<{ entries: { action: string; env: string; outcome: string }[] }>(`${server.url}/api/audit?action=environment.down`);
    expect(audit.entries).toEqual([expect.objectContaining({ action: 'environment.down', env: 'hello/staging', outcome: 'ok' })]);

    const again = await cli(['down', 'staging']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/hello\/staging is down already/);

    const up = await cli(['deploy', 'staging']);
    expect(up.code, up.stdout + up.stderr).toBe(0);
    expect(await answersOn(stagingPort)).toBe(true);
    const after = await status('hello/staging');
    expect(after.down).toBeNull();
    expect(after.stable?.number).toBe(2);
    expect(livePids('hello/staging')).toHaveLength(2);
  });

  it('remove asks for confirmation, is refused to a deployer and while a rollout runs, and changes nothing then', async () => {
    // Refusals and token making, side by side where one does not need another.
    const [noTty, deployer, viewer] = await Promise.all([cli(['--json', 'remove', 'staging']), makeToken('dana', 'deployer'), makeToken('vic', 'viewer')]);
    expect(noTty.code).toBe(1);
    expect(errorOf(noTty.stdout)).toMatchObject({ code: 'E_BAD_REQUEST', message: expect.stringMatching(/pass --yes/) });

    const [refused, viewerDown] = await Promise.all([cli(['--json', 'remove', 'staging', '--yes'], { token: deployer }), cli(['--json', 'down', 'staging'], { token: viewer })]);
    expect(refused.code).toBe(1);
    expect(errorOf(refused.stdout).code).toBe('E_FORBIDDEN');
    // A deployer may take it down, though: a deploy gives it back.
    expect(errorOf(viewerDown.stdout).code).toBe('E_FORBIDDEN');

    // A canary that waits at its pause holds production.
    writeService(app, { ...service, version: '2.0.0' });
    const canary = await cli(['deploy', 'production', '--detach']);
    expect(canary.code, canary.stdout + canary.stderr).toBe(0);
    const [locked, lockedDown] = await Promise.all([cli(['--json', 'remove', 'production', '--yes']), cli(['--json', 'down', 'production'])]);
    expect(errorOf(locked.stdout).code).toBe('E_ENV_LOCKED');
    expect(errorOf(lockedDown.stdout).code).toBe('E_ENV_LOCKED');
    expect((await status('hello/production')).rollout).not.toBeNull();
    expect((await status('hello/staging')).instances).toHaveLength(2);
    const abort = await cli(['abort', 'production', '--wait']);
    expect(abort.code, abort.stdout + abort.stderr).toBe(0);
  });

  it('remove --yes takes it down and forgets it; audit entries stay; the name starts again at #1', async () => {
    const pids = livePids('hello/staging');
    // Maintenance is part of what is forgotten: the environment deployed again under this name serves.
    const maintenance = await cli(['maintenance', 'on', 'staging']);
    expect(maintenance.code, maintenance.stdout + maintenance.stderr).toBe(0);
    const r = await cli(['remove', 'staging', '--yes']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/removed hello\/staging: 2 instance\(s\) stopped; forgot 2 release\(s\), 2 rollout\(s\)/);
    expect(pids.filter(isPidAlive)).toEqual([]);
    expect(await canBind(stagingPort)).toBe(true);

    const gone = await apiFetch(`${server.url}/api/environments/hello%2Fstaging`);
    expect(gone.status).toBe(404);
    expect(((await gone.json()) as CliError).error.code).toBe('E_ENV_UNKNOWN');
    const all = await getJson<{ environments: EnvironmentStatus[] }>(`${server.url}/api/environments`);
    expect(all.environments.map((e) => e.env)).toEqual(['hello/production']);
    const audit = await getJson<{ entries: { action: string }[] }>(`${server.url}/api/audit?env=hello/staging`);
    expect(audit.entries.map((e) => e.action)).toEqual(expect.arrayContaining(['deploy', 'environment.down', 'environment.remove']));
    const verify = await cli(['--json', 'audit', 'verify']);
    expect(verify.code, verify.stdout).toBe(0);

    const missing = await cli(['--json', 'remove', 'staging', '--yes']);
    expect(errorOf(missing.stdout).code).toBe('E_ENV_UNKNOWN');

    const again = await cli(['deploy', 'staging']);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect((await status('hello/staging')).stable?.number).toBe(1);
    expect((await status('hello/staging')).traffic?.maintenance ?? null).toBeNull();
    const served = await request(`http://127.0.0.1:${stagingPort}/`, { headersTimeout: 5000 });
    await served.body.dump();
    expect(served.statusCode).toBe(200);
  });

  it('an environment deleted from slipway.yaml is reported by plan and status, with what to run', async () => {
    writeService(app, { ...service, envs: { staging: service.envs.staging! } });
    const [st, stJson, plan] = await Promise.all([cli(['status']), cli(['--json', 'status']), cli(['plan', 'staging'])]);
    expect(st.code).toBe(0);
    expect(st.stdout).toMatch(/hello\/production: not in slipway\.yaml, but still on the server: run `slipway down production` to stop it, or `slipway remove production` to forget it/);
    expect((JSON.parse(stJson.stdout) as { notInConfig: string[] }).notInConfig).toEqual(['hello/production']);
    expect(plan.code, plan.stdout + plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/hello\/production: not in slipway\.yaml/);

    const down = await cli(['down', 'production']);
    expect(down.code, down.stdout + down.stderr).toBe(0);
    // Down, it runs nothing: no longer reported as left running.
    const quiet = await cli(['--json', 'status']);
    expect((JSON.parse(quiet.stdout) as { notInConfig: string[] }).notInConfig).toEqual([]);
  });
});

describe('down on a listener shared by hosts', { timeout: 180_000 }, () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let port: number;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir, timeoutMs: 90_000 });
  const get = async (host: string) => {
    const res = await request(`http://127.0.0.1:${port}/`, { headers: { host }, headersTimeout: 5000 });
    return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
  };

  beforeAll(async () => {
    work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    port = await freePort();
    writeService(app, {
      envs: {
        staging: { instances: 1, port, extraYaml: 'hosts: [staging.example.com]' },
        production: { instances: 1, port, extraYaml: 'hosts: [www.example.com]' },
      },
    });
    server = await startServerProcess(dataDir);
    for (const env of ['staging', 'production']) {
      const r = await cli('deploy', env);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    }
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it("keeps the listener for the others; the down environment's hosts get the router's own 404, never another's answer", async () => {
    expect((await get('staging.example.com')).status).toBe(200);
    const r = await cli('down', 'staging');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // It says the listener stays for production, not that the address was released.
    expect(r.stdout).toMatch(/1 instance\(s\) stopped, its hosts taken off the listener it shares with \S+\/production, which keeps serving/);
    expect(r.stdout).not.toContain('address released');
    const down = await get('staging.example.com');
    expect(down.status).toBe(404);
    expect(down.body).toMatchObject({ error: 'unknown_host', host: 'staging.example.com' });
    expect((await get('www.example.com')).status).toBe(200);
  });
});

describe('rollout ids after remove', { timeout: 240_000 }, () => {
  let work: string;
  let helloDir: string;
  let shopDir: string;
  let dataDir: string;
  let server: ServerProcess;
  let shop: ServiceOptions;
  const cliIn = (dir: string, ...args: string[]) => runCli(args, { cwd: dir, dataDir, timeoutMs: 90_000 });

  interface AuditEntry { action: string; target: string | null; details: { rollout?: number | null } }
  /** Every rollout id the audit log names for an environment, in a target or in the details. */
  async function rolloutsNamedFor(env: string): Promise<{ ids: Set<number>; entries: AuditEntry[] }> {
    const { entries } = await getJson<{ entries: AuditEntry[] }>(`${server.url}/api/audit?env=${encodeURIComponent(env)}`);
    const ids = new Set<number>();
    for (const e of entries) {
      const target = /^rollout (\d+)$/.exec(e.target ?? '');
      if (target) ids.add(Number(target[1]));
      if (typeof e.details.rollout === 'number') ids.add(e.details.rollout);
    }
    return { ids, entries };
  }

  beforeAll(async () => {
    work = scratchDir();
    helloDir = join(work, 'hello');
    shopDir = join(work, 'shop');
    dataDir = join(work, '.slipway');
    writeService(helloDir, { envs: { staging: { instances: 1, port: await freePort() } } });
    shop = { service: 'shop', envs: { production: { instances: 1, port: await freePort(), strategyYaml: 'type: canary\nsteps:\n  - weight: 50\n  - pause: {}' } } };
    writeService(shopDir, shop);
    server = await startServerProcess(dataDir);
    for (const r of await Promise.all([cliIn(helloDir, 'deploy', 'staging'), cliIn(shopDir, 'deploy', 'production')])) expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('a rollout after remove gets an id above every rollout of the removed environment, which the audit log keeps naming', async () => {
    // shop/production's newest rollouts are paused and aborted: the audit log names them by id.
    writeService(shopDir, { ...shop, version: '2.0.0' });
    const canary = await cliIn(shopDir, 'deploy', 'production', '--detach');
    expect(canary.code, canary.stdout + canary.stderr).toBe(0);
    for (const args of [['pause', 'production'], ['abort', 'production', '--wait']]) {
      const r = await cliIn(shopDir, ...args);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    }
    const before = await rolloutsNamedFor('shop/production');
    const aborted = before.entries.find((e) => e.action === 'rollout.abort')!.target;
    expect(before.ids.size).toBe(2);
    const newestShop = Math.max(...before.ids);
    expect(aborted).toBe(`rollout ${newestShop}`);

    const removed = await cliIn(shopDir, 'remove', 'production', '--yes');
    expect(removed.code, removed.stdout + removed.stderr).toBe(0);
    expect((await apiFetch(`${server.url}/api/rollouts/${newestShop}`)).status).toBe(404);

    const set = await cliIn(helloDir, 'config', 'set', 'staging', 'LOG_LEVEL=debug');
    expect(set.code, set.stdout + set.stderr).toBe(0);
    const hello = await getJson<EnvironmentStatus>(`${server.url}/api/environments/hello%2Fstaging`);
    const next = hello.lastRollout!.id;
    expect(hello.lastRollout).toMatchObject({ kind: 'config', env: 'hello/staging' });
    expect(next).toBeGreaterThan(newestShop);

    // What the audit log says of shop's rollouts still means shop's: no id of it answers for hello.
    const after = await rolloutsNamedFor('shop/production');
    expect(after.entries.find((e) => e.action === 'rollout.abort')?.target).toBe(aborted);
    for (const id of after.ids) expect((await apiFetch(`${server.url}/api/rollouts/${id}`)).status).toBe(404);
  });
});
