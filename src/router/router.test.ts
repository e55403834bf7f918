// The router as the server uses it: a real detached process started by ensureRouter
// in a temp state dir, real backends on 127.0.0.1, real concurrent load.

import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSlipwayError } from '../core/errors.ts';
import { ADMIN_SECRET_FILE, newAdminSecret } from './admin-secret.ts';
import { ensureRouter, type RouterClient } from './router-client.ts';
import { Router } from './router.ts';
import { routeTableDigest, type RouteTable } from './route-table.ts';
import { freePort, runLoad, startTestUpstream, type TestUpstream } from './test-upstream.ts';

describe('router process', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'slipway-router-test-'));
  const pids = new Set<number>();
  const upstreams: TestUpstream[] = [];
  let router: RouterClient;
  let version = 0;
  let port = 0;

  const base = (): string => `http://127.0.0.1:${port}`;

  async function upstream(id: string): Promise<TestUpstream> {
    const u = await startTestUpstream(id);
    upstreams.push(u);
    return u;
  }

  /** A table for environment "test" on the fixed port; backends as [upstream, release]. */
  function table(backends: Array<[TestUpstream, string]>, weights: Record<string, number>): RouteTable {
    return {
      version: ++version,
      environments: { test: { listen: `127.0.0.1:${port}`, backends: backends.map(([u, release]) => ({ id: u.id, release, url: u.url })), weights } },
    };
  }

  async function get(path: string, at = base()): Promise<{ status: number; text: string }> {
    const res = await request(at + path);
    return { status: res.statusCode, text: await res.body.text() };
  }

  /** The secret as the server has it: read from the router's state dir. */
  const secret = (): string => readFileSync(join(stateDir, ADMIN_SECRET_FILE), 'utf8').trim();

  /** A raw admin request, as any local process (or, with `origin`, a web page) could send it. */
  async function admin(method: 'GET' | 'PUT' | 'POST', path: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; text: string }> {
    const res = await request(router.adminUrl + path, { method, headers, body: body ?? null });
    return { status: res.statusCode, text: await res.body.text() };
  }

  beforeAll(async () => {
    port = await freePort();
    router = await ensureRouter({ stateDir });
    pids.add(router.pid);
  });

  afterAll(async () => {
    for (const pid of pids) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await Promise.all(upstreams.map((u) => u.kill()));
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('starts detached, writes router.json and answers healthz', async () => {
    const info = JSON.parse(readFileSync(join(stateDir, 'router.json'), 'utf8')) as { pid: number; adminUrl: string; startedAt: string };
    expect(info.pid).toBe(router.pid);
    expect(info.adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await router.isHealthy()).toBe(true);
    expect((await router.getStatus()).ready).toBe(true);
  });

  it('keeps its admin secret in a 0600 file of a 0700 state dir, and nowhere else', async () => {
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(stateDir, ADMIN_SECRET_FILE)).mode & 0o777).toBe(0o600);
    expect(secret()).toMatch(/^[0-9a-f]{64}$/);
    expect(readFileSync(join(stateDir, 'router.json'), 'utf8')).not.toContain(secret());
    expect(readFileSync(`/proc/${router.pid}/cmdline`, 'utf8')).not.toContain(secret());
    expect(readFileSync(join(stateDir, 'router.log'), 'utf8')).not.toContain(secret());
  });

  it('routes requests to the backends in the table', async () => {
    const a = await upstream('a1');
    const answer = await router.putRoutes(table([[a, 'r1']], { r1: 100 }));
    expect(answer.listeners.test).toMatchObject({ listening: true });
    expect(await get('/')).toEqual({ status: 200, text: 'a1' });
    expect(await router.getRoutes()).toMatchObject({ version });
  });

  it('splits 10,000 requests 10/90 by release weight (within ±2%)', async () => {
    const a = upstreams.find((u) => u.id === 'a1')!;
    const b = await upstream('b1');
    await router.putRoutes(table([[a, 'r1'], [b, 'r2']], { r1: 10, r2: 90 }));
    const load = await runLoad({ url: base() + '/', concurrency: 20, total: 10_000 });
    expect(load.failed).toBe(0);
    expect(Math.abs((load.bodies.a1 ?? 0) / 10_000 - 0.1)).toBeLessThanOrEqual(0.02);
  });

  it('applies a new table: all traffic moves to the newly weighted release', async () => {
    const [a, b] = [upstreams.find((u) => u.id === 'a1')!, upstreams.find((u) => u.id === 'b1')!];
    await router.putRoutes(table([[a, 'r1'], [b, 'r2']], { r1: 0, r2: 100 }));
    const load = await runLoad({ url: base() + '/', concurrency: 5, total: 200 });
    expect(load.bodies).toEqual({ b1: 200 });
  });

  it('answers the version and digest of the table it runs, to the secret only', async () => {
    const t = await router.getRoutes();
    expect(await router.getRouteHead()).toEqual({ version: t.version, digest: routeTableDigest(t), ready: true });
    expect((await router.getStatus()).digest).toBe(routeTableDigest(t));
    expect((await admin('GET', '/routes/head')).status).toBe(401);
  });

  it('lets a request in flight finish when its backend leaves the table, then its inflight drains to 0', async () => {
    const slow = await upstream('slow1');
    const other = upstreams.find((u) => u.id === 'b1')!;
    await router.putRoutes(table([[slow, 'r3']], { r3: 100 }));
    const pending = get('/slow?ms=800');
    await waitFor(async () => (await router.inflight('slow1')) === 1);
    await router.putRoutes(table([[other, 'r2']], { r2: 100 }));
    expect(await router.inflight('slow1')).toBe(1);
    expect((await router.getStats()).backends.slow1?.inflight).toBe(1);
    const drained = await router.waitDrained('slow1', 5_000);
    expect(drained).toEqual({ drained: true, inflight: 0, upgraded: 0 });
    expect(await pending).toEqual({ status: 200, text: 'slow1' });
    expect(await router.waitDrained('slow1', 100)).toEqual({ drained: true, inflight: 0, upgraded: 0 });
  });

  it('gives 0 failed GETs when a backend dies mid-load and others remain (retry)', async () => {
    const [c1, c2, c3] = [await upstream('c1'), await upstream('c2'), await upstream('c3')];
    await router.putRoutes(table([[c1, 'r4'], [c2, 'r4'], [c3, 'r5']], { r4: 50, r5: 50 }));
    const loading = runLoad({ url: base() + '/', concurrency: 16, untilMs: 2_500 });
    await sleep(700);
    await c1.kill(); // the router is not told: only the retry stands between this and 502s
    const load = await loading;
    expect(load.failures).toEqual([]);
    expect(load.failed).toBe(0);
    expect(load.ok).toBeGreaterThan(100);
    const r4 = (await router.getStats()).environments.test!.r4!;
    expect(r4.retries).toBeGreaterThan(0);
  });

  it('refuses a bad table with 400 and a precise message, and changes nothing', async () => {
    const before = await router.getRoutes();
    const bad = { version: version + 1, environments: { test: { listen: `127.0.0.1:${port}`, backends: [], weights: { r1: 150 } } } };
    const err = await router.putRoutes(bad as RouteTable).catch((e: unknown) => e);
    expect(isSlipwayError(err) && err.code).toBe('E_BAD_REQUEST');
    expect((err as Error).message).toContain('environments.test.weights.r1: weight must be between 0 and 100');
    expect((err as { details: { status: number } }).details.status).toBe(400);
    const raw = await admin('PUT', '/routes', { authorization: `Bearer ${secret()}`, 'content-type': 'application/json' }, '{"version": 1, "environments": {}, "surprise": true}');
    expect(raw.status).toBe(400);
    expect(raw.text).toContain('Unrecognized key: \\"surprise\\"');
    expect(await router.getRoutes()).toEqual(before);
  });

  it('refuses a stale version with 409 and keeps the current table', async () => {
    const before = await router.getRoutes();
    const stale = { ...before, version: before.version - 1 };
    const err = await router.putRoutes(stale).catch((e: unknown) => e);
    expect(isSlipwayError(err) && err.code).toBe('E_BAD_REQUEST');
    expect((err as { details: { status: number; currentVersion: number } }).details).toMatchObject({ status: 409, currentVersion: before.version });
    expect(await router.getRoutes()).toEqual(before);
  });

  it('counts requests, status classes and latency per release', async () => {
    const before = (await router.getStats()).environments.test?.r5;
    const load = await runLoad({ url: base() + '/', concurrency: 4, total: 100 });
    expect(load.failed).toBe(0);
    const after = (await router.getStats()).environments.test!.r5!;
    const moved = after.requests - (before?.requests ?? 0);
    expect(moved).toBeGreaterThan(20);
    expect(after.status['2xx'] - (before?.status['2xx'] ?? 0)).toBe(moved);
    expect(after.latency.count - (before?.latency.count ?? 0)).toBe(moved);
  });

  it('reports a listener that cannot bind, without failing the other environments', async () => {
    const current = await router.getRoutes();
    const busy = `127.0.0.1:${router.adminUrl.split(':').pop()}`; // the admin port is taken for sure
    const next: RouteTable = {
      version: ++version,
      environments: { ...current.environments, other: { listen: busy, backends: [], weights: {} } },
    };
    const answer = await router.putRoutes(next);
    expect(answer.listeners.test?.listening).toBe(true);
    expect(answer.listeners.other?.listening).toBe(false);
    expect(answer.listeners.other?.error).toMatch(/EADDRINUSE/);
    expect((await router.getStatus()).listeners.other?.error).toMatch(/EADDRINUSE/);
    expect((await get('/')).status).toBe(200);
    await router.putRoutes({ ...current, version: ++version });
  });

  it('refuses PUT /routes and POST /shutdown from a local process without the secret, and routing goes on', async () => {
    const before = await router.getRoutes();
    const loading = runLoad({ url: base() + '/', concurrency: 4, untilMs: 1_500 });
    const json = { 'content-type': 'application/json' };
    const hijack = JSON.stringify({ version: before.version + 100, environments: {} });
    const attempts = [
      await admin('PUT', '/routes', json, hijack),
      await admin('PUT', '/routes', { ...json, authorization: `Bearer ${newAdminSecret()}` }, hijack),
      await admin('POST', '/shutdown', json, '{}'),
      await admin('POST', '/shutdown'),
    ];
    expect(attempts.map((a) => a.status)).toEqual([401, 401, 401, 401]);
    expect(attempts[0]!.text).toContain('E_UNAUTHENTICATED');
    // What reveals the topology needs the secret too; the probes do not.
    for (const path of ['/routes', '/stats', '/status', '/inflight/a1']) expect((await admin('GET', path)).status, path).toBe(401);
    expect((await admin('GET', '/healthz')).status).toBe(200);
    expect((await admin('GET', '/readyz')).status).toBe(200);
    const load = await loading;
    expect(load.failed).toBe(0);
    expect(load.ok).toBeGreaterThan(50);
    expect(await router.getRoutes()).toEqual(before);
    expect(await router.isHealthy()).toBe(true);
  });

  it('refuses a browser: an Origin header, even with the secret, or a page\'s text/plain no-cors POST', async () => {
    const before = await router.getRoutes();
    const auth = { authorization: `Bearer ${secret()}` };
    const page = await admin('POST', '/shutdown', { origin: 'https://evil.example', 'content-type': 'text/plain' }, '{}');
    const withSecret = await admin('PUT', '/routes', { ...auth, origin: 'http://127.0.0.1:3000', 'content-type': 'application/json' }, JSON.stringify({ ...before, version: before.version + 1, environments: {} }));
    const rebinding = await admin('GET', '/routes', { ...auth, host: 'attacker.example' });
    const notJson = await admin('POST', '/shutdown', { ...auth, 'content-type': 'text/plain' }, '{}');
    expect([page.status, withSecret.status, rebinding.status, notJson.status]).toEqual([403, 403, 403, 415]);
    expect(page.text).toContain('E_FORBIDDEN');
    expect(await router.getRoutes()).toEqual(before);
    expect(await router.isHealthy()).toBe(true);
    expect((await get('/')).status).toBe(200);
    await waitFor(async () => readFileSync(join(stateDir, 'router.log'), 'utf8').includes('admin request refused'));
  });

  it('applies every other environment\'s routes when two environments name one address, and reports the second', async () => {
    const current = await router.getRoutes();
    const [d, e] = [await upstream('d1'), await upstream('e1')];
    const thirdPort = await freePort();
    const clashing: RouteTable = {
      version: ++version,
      environments: {
        ...current.environments,
        // Before "test" in table order: the listener already serving keeps the address all the same.
        aaa: { listen: `127.0.0.1:${port}`, backends: [{ id: d.id, release: 'r1', url: d.url }], weights: { r1: 100 } },
        third: { listen: `127.0.0.1:${thirdPort}`, backends: [{ id: e.id, release: 'r1', url: e.url }], weights: { r1: 100 } },
      },
    };
    const answer = await router.putRoutes(clashing);
    expect(answer.version).toBe(version);
    expect(answer.listeners.test).toMatchObject({ listening: true });
    expect(answer.listeners.third).toMatchObject({ listening: true });
    expect(answer.listeners.aaa).toMatchObject({ listening: false });
    expect(answer.listeners.aaa?.error).toContain('environment "test" listens there');
    const load = await runLoad({ url: base() + '/', concurrency: 4, total: 100 });
    expect(load.failed).toBe(0);
    expect(load.bodies.d1).toBeUndefined();
    expect(await get('/', `http://127.0.0.1:${thirdPort}`)).toEqual({ status: 200, text: 'e1' });
    // Fixed in the next table: the environment gets its own listener.
    const ownPort = await freePort();
    const fixed = await router.putRoutes({ ...clashing, version: ++version, environments: { ...clashing.environments, aaa: { ...clashing.environments.aaa!, listen: `127.0.0.1:${ownPort}` } } });
    expect(fixed.listeners.aaa).toMatchObject({ listening: true });
    expect(await get('/', `http://127.0.0.1:${ownPort}`)).toEqual({ status: 200, text: 'd1' });
    await router.putRoutes({ ...current, version: ++version });
  });

  it('adopts the running router on a second ensureRouter instead of starting another, with the secret from the state dir', async () => {
    const again = await ensureRouter({ stateDir });
    expect(again.pid).toBe(router.pid);
    expect(again.adminUrl).toBe(router.adminUrl);
    expect(await again.acceptsSecret()).toBe(true);
    expect((await again.getRoutes()).version).toBe(version);
  });

  it('replaces, rather than adopts, a router that does not take the secret in the state dir', async () => {
    const saved = await router.getRoutes();
    const oldPid = router.pid;
    writeFileSync(join(stateDir, ADMIN_SECRET_FILE), `${newAdminSecret()}\n`, { mode: 0o600 });
    router = await ensureRouter({ stateDir });
    pids.add(router.pid);
    expect(router.pid).not.toBe(oldPid);
    expect(() => process.kill(oldPid, 0)).toThrow();
    // It answers before routes.json is applied (ready: false); on a loaded machine that moment is long.
    await waitFor(async () => (await router.getStatus()).ready);
    expect(await router.getRoutes()).toEqual(saved);
    await waitFor(async () => (await router.getStatus()).listeners.test?.listening === true);
    expect((await get('/')).status).toBe(200);
  });

  it('restores routes.json after the router is killed (kill -9) and started again', async () => {
    const saved = await router.getRoutes();
    process.kill(router.pid, 'SIGKILL');
    await waitFor(async () => !(await router.isHealthy()));
    router = await ensureRouter({ stateDir });
    pids.add(router.pid);
    // It answers before routes.json is applied (ready: false); on a loaded machine that moment is long.
    await waitFor(async () => (await router.getStatus()).ready);
    expect(await router.getRoutes()).toEqual(saved);
    const load = await runLoad({ url: base() + '/', concurrency: 4, total: 50 });
    expect(load.failed).toBe(0);
  });

  it('shuts down on request: listeners close and the process exits', async () => {
    const pid = router.pid;
    await router.shutdown();
    expect(() => process.kill(pid, 0)).toThrow();
    await expect(get('/')).rejects.toThrow();
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

describe('router, in process: one environment never blocks another\'s routes', () => {
  const noPersist = async (): Promise<void> => {};
  const upstreams: TestUpstream[] = [];
  let router: Router;
  let version = 0;

  const env = (listen: string, u: TestUpstream, preview?: string) => ({
    listen,
    backends: [{ id: u.id, release: 'r1', url: u.url }],
    weights: { r1: 100 },
    ...(preview ? { preview: { listen: preview, release: 'r1' } } : {}),
  });

  async function put(environments: RouteTable['environments']) {
    const result = await router.putTable({ version: ++version, environments }, noPersist);
    if (!result.ok) throw new Error('stale');
    return result.listeners;
  }

  async function body(address: string): Promise<string> {
    return (await request(`http://${address}/`)).body.text();
  }

  beforeAll(async () => {
    for (const id of ['prod1', 'stag1', 'qa1']) upstreams.push(await startTestUpstream(id));
  });

  afterAll(async () => {
    await Promise.all(upstreams.map((u) => u.kill()));
  });

  it('in a fresh router, gives a shared address to the first environment and serves all the others', async () => {
    router = new Router({ closeGraceMs: 200, listenRetryMs: 50 });
    try {
      const [shared, qaPort] = [await freePort(), await freePort()];
      const [prod, stag, qa] = upstreams as [TestUpstream, TestUpstream, TestUpstream];
      const listeners = await put({
        production: env(`127.0.0.1:${shared}`, prod),
        staging: env(`127.0.0.1:${shared}`, stag, `127.0.0.1:${shared}`),
        qa: env(`127.0.0.1:${qaPort}`, qa),
      });
      expect(listeners.production).toMatchObject({ listening: true });
      expect(listeners.qa).toMatchObject({ listening: true });
      expect(listeners.staging).toEqual({ listen: `127.0.0.1:${shared}`, listening: false, error: expect.stringContaining('environment "production" listens there; give environment "staging" an address of its own') });
      expect(listeners['staging:preview']?.error).toContain('give the preview listener of environment "staging" an address of its own');
      // The retry timer (every 50 ms here) leaves the refused listener alone.
      await sleep(200);
      expect(router.listenerStatus().staging?.listening).toBe(false);
      expect(await body(`127.0.0.1:${shared}`)).toBe('prod1');
      expect(await body(`127.0.0.1:${qaPort}`)).toBe('qa1');
    } finally {
      await router.close(200);
    }
  });

  it('keeps production on its address when a newcomer first in table order claims it, and hands it over once production moves', async () => {
    router = new Router({ closeGraceMs: 200 });
    try {
      const [shared, other] = [await freePort(), await freePort()];
      const [prod, stag] = upstreams as [TestUpstream, TestUpstream];
      await put({ production: env(`127.0.0.1:${shared}`, prod) });
      const clash = await put({ alpha: env(`127.0.0.1:${shared}`, stag), production: env(`127.0.0.1:${shared}`, prod) });
      expect(clash.production).toMatchObject({ listening: true });
      expect(clash.alpha?.error).toContain('environment "production" listens there');
      const load = await runLoad({ url: `http://127.0.0.1:${shared}/`, concurrency: 4, total: 200 });
      expect(load.bodies).toEqual({ prod1: 200 });
      const moved = await put({ alpha: env(`127.0.0.1:${shared}`, stag), production: env(`127.0.0.1:${other}`, prod) });
      expect(moved.alpha).toMatchObject({ listening: true });
      expect(moved.alpha?.error).toBeUndefined();
      expect(await body(`127.0.0.1:${shared}`)).toBe('stag1');
      expect(await body(`127.0.0.1:${other}`)).toBe('prod1');
    } finally {
      await router.close(200);
    }
  });
});
