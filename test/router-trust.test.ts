// Only the server steers the router (issue 19, H1 and H2), end to end: a real
// server, router and instances. Another local process (or a web page) that finds the
// router's admin address can neither re-route traffic nor stop the router; the
// server, holding the admin secret, keeps steering it through a kill -9 and restart;
// and one environment's bad listen address never blocks another's routes.

import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTraffic } from '../src/cli/traffic.ts';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import {
  apiFetch, freePort, getJson, isPidAlive, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService,
  type ServerProcess, type ServiceOptions,
} from './support/harness.ts';

interface RouterInfo {
  pid: number;
  adminUrl: string;
}

describe('the router answers the server only', () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let service: ServiceOptions;
  let prodUrl: string;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir });
  const routerInfo = (): RouterInfo => JSON.parse(readFileSync(join(dataDir, 'router', 'router.json'), 'utf8')) as RouterInfo;
  /** What the server side has, and only its user can read. */
  const serverSecret = (): string => readFileSync(join(dataDir, 'router', 'admin.secret'), 'utf8').trim();

  async function admin(method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; text: string }> {
    const res = await fetch(routerInfo().adminUrl + path, { method, headers, ...(body === undefined ? {} : { body }) });
    return { status: res.status, text: await res.text() };
  }

  beforeAll(async () => {
    work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    const port = await freePort();
    prodUrl = `http://127.0.0.1:${port}/`;
    service = { version: '1.0.0', envs: { production: { instances: 2, port, batch: 1 } } };
    writeService(app, service);
    server = await startServerProcess(dataDir);
    const r = await cli('deploy', 'production');
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('keeps the admin secret in a 0600 file of a 0700 router dir, and gives API clients no admin URL', async () => {
    expect(statSync(join(dataDir, 'router')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dataDir, 'router', 'admin.secret')).mode & 0o777).toBe(0o600);
    const info = await getJson<{ router?: Record<string, unknown> }>(`${server.url}/api/server`);
    expect(info.router?.pid).toBe(routerInfo().pid);
    expect(info.router).not.toHaveProperty('adminUrl');
    expect(JSON.stringify(info)).not.toContain(routerInfo().adminUrl);
  });

  it('refuses PUT /routes and POST /shutdown from a local process without the secret, and from a web page; traffic is unaffected', async () => {
    const { pid } = routerInfo();
    const traffic = startTraffic({ url: prodUrl, concurrency: 4, maxDurationMs: 30_000, pauseMs: 2 });
    await new Promise((r) => setTimeout(r, 300));
    const json = { 'content-type': 'application/json' };
    const emptyTable = JSON.stringify({ version: 1_000_000, environments: {} });
    const local = [
      await admin('PUT', '/routes', json, emptyTable),
      await admin('POST', '/shutdown', json, '{}'),
      await admin('POST', '/shutdown', { ...json, authorization: 'Bearer 0000' }, '{}'),
      await admin('GET', '/routes'),
      await admin('GET', '/stats'),
    ];
    expect(local.map((a) => a.status)).toEqual([401, 401, 401, 401, 401]);
    // What fetch(url, { mode: 'no-cors', method: 'POST' }) sends from a page; and a page that somehow had the secret.
    const page = await admin('POST', '/shutdown', { origin: 'https://evil.example', 'content-type': 'text/plain;charset=UTF-8', 'sec-fetch-site': 'cross-site' }, '{}');
    const pageWithSecret = await admin('PUT', '/routes', { ...json, origin: 'https://evil.example', authorization: `Bearer ${serverSecret()}` }, emptyTable);
    expect([page.status, pageWithSecret.status]).toEqual([403, 403]);
    await new Promise((r) => setTimeout(r, 500));
    const s = await traffic.stop();
    expect(s.failed, JSON.stringify(s.errors)).toBe(0);
    expect(s.ok).toBeGreaterThan(50);
    expect(isPidAlive(pid)).toBe(true);
    expect(routerInfo().pid).toBe(pid);
    const routes = JSON.parse((await admin('GET', '/routes', { authorization: `Bearer ${serverSecret()}` })).text) as { version: number; environments: Record<string, unknown> };
    expect(Object.keys(routes.environments)).toEqual(['hello/production']);
    expect(routes.version).toBeLessThan(1_000_000);
    // The refusals are on record in the router's log.
    const log = readFileSync(join(dataDir, 'router', 'router.log'), 'utf8');
    expect(log.match(/admin request refused/g)?.length).toBeGreaterThanOrEqual(7);
    expect(log).not.toContain(serverSecret());
  });

  it('with the secret from the server\'s side: a server killed with -9 and restarted adopts the router and steers it', async () => {
    const { pid, adminUrl } = routerInfo();
    const secret = serverSecret();
    expect((await admin('GET', '/status', { authorization: `Bearer ${secret}` })).status).toBe(200);
    const traffic = startTraffic({ url: prodUrl, concurrency: 4, maxDurationMs: 90_000, pauseMs: 2 });
    await server.kill9();
    server = await startServerProcess(dataDir, 'server2.log');
    // Adopted, not replaced: same process, same address, same secret.
    expect(routerInfo()).toMatchObject({ pid, adminUrl });
    expect(serverSecret()).toBe(secret);
    expect((await getJson<{ router: { pid: number } }>(`${server.url}/api/server`)).router.pid).toBe(pid);
    // The new server steers it: a rolling deploy moves every request to 2.0.0.
    writeService(app, { ...service, version: '2.0.0' });
    const r = await cli('deploy', 'production');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await waitFor('2.0.0 to serve', async () => (await getJson<{ version: string }>(prodUrl)).version === '2.0.0');
    const s = await traffic.stop();
    expect(s.failed, JSON.stringify(s.errors)).toBe(0);
    expect(isPidAlive(pid)).toBe(true);
  });

  it('serves every other environment when one is given production\'s listen address, and production\'s rollouts still finish', async () => {
    const auth = { authorization: `Bearer ${serverSecret()}`, 'content-type': 'application/json' };
    const current = JSON.parse((await admin('GET', '/routes', auth)).text) as { version: number; environments: Record<string, { listen: string; backends: Array<{ id: string }>; weights: unknown }> };
    const prod = current.environments['hello/production']!;
    const qaPort = await freePort();
    const traffic = startTraffic({ url: prodUrl, concurrency: 4, maxDurationMs: 90_000, pauseMs: 2 });
    // The table the router refused whole before: staging on production's address.
    const clashing = {
      version: current.version + 1,
      environments: {
        ...current.environments,
        staging: { ...prod, backends: [] },
        qa: { ...prod, listen: `127.0.0.1:${qaPort}`, backends: prod.backends.map((b) => ({ ...b, id: `qa-${b.id}` })) },
      },
    };
    const put = await admin('PUT', '/routes', auth, JSON.stringify(clashing));
    expect(put.status, put.text).toBe(200);
    const answer = JSON.parse(put.text) as { listeners: Record<string, { listening: boolean; error?: string }> };
    expect(answer.listeners['hello/production']?.listening).toBe(true);
    expect(answer.listeners.qa?.listening).toBe(true);
    expect(answer.listeners.staging).toMatchObject({ listening: false, error: expect.stringContaining('environment "hello/production" listens there') });
    expect((await getJson<{ version: string }>(`http://127.0.0.1:${qaPort}/`)).version).toBe('2.0.0');
    // The server pushes its own tables after this one (past its version) and a production rollout finishes.
    writeService(app, { ...service, version: '3.0.0' });
    const r = await cli('deploy', 'production');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await waitFor('3.0.0 to serve', async () => (await getJson<{ version: string }>(prodUrl)).version === '3.0.0');
    const s = await traffic.stop();
    expect(s.failed, JSON.stringify(s.errors)).toBe(0);
    const status = await getJson<EnvironmentStatus>(`${server.url}/api/environments/production`);
    expect(status.listenError).toBeNull();
    expect(status.stable?.number).toBe(3);
  });

  it('a staging deploy onto production\'s address leaves production serving and deployable', async () => {
    // Through the server: it may refuse the address itself, or the router reports it
    // as staging's error. Either way production keeps its routes and its rollouts.
    const prodPort = service.envs.production!.port;
    const traffic = startTraffic({ url: prodUrl, concurrency: 4, maxDurationMs: 90_000, pauseMs: 2 });
    writeService(app, { ...service, version: '3.0.0', envs: { production: { ...service.envs.production!, port: await freePort() }, staging: { instances: 1, port: prodPort } } });
    const staged = await cli('deploy', 'staging');
    if (staged.code === 0) {
      await waitFor('the router to report staging\'s clash', async () => (await getJson<EnvironmentStatus>(`${server.url}/api/environments/staging`)).listenError !== null);
      expect((await getJson<EnvironmentStatus>(`${server.url}/api/environments/staging`)).listenError).toContain('environment "hello/production" listens there');
    } else {
      expect(staged.stderr).toMatch(/staging\.listen .* "hello\/production"/);
    }
    writeService(app, { ...service, version: '4.0.0' });
    const r = await cli('deploy', 'production');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await waitFor('4.0.0 to serve', async () => (await getJson<{ version: string }>(prodUrl)).version === '4.0.0');
    const s = await traffic.stop();
    expect(s.failed, JSON.stringify(s.errors)).toBe(0);
    expect((await apiFetch(`${server.url}/api/environments/production`)).status).toBe(200);
  });
});
