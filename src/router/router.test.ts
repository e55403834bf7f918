// The router as the server uses it: a real detached process started by ensureRouter
// in a temp state dir, real backends on 127.0.0.1, real concurrent load.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSlipwayError } from '../core/errors.ts';
import { ensureRouter, type RouterClient } from './router-client.ts';
import type { RouteTable } from './route-table.ts';
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

  async function get(path: string): Promise<{ status: number; text: string }> {
    const res = await request(base() + path);
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
    expect(drained).toEqual({ drained: true, inflight: 0 });
    expect(await pending).toEqual({ status: 200, text: 'slow1' });
    expect(await router.waitDrained('slow1', 100)).toEqual({ drained: true, inflight: 0 });
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
    const raw = await request(router.adminUrl + '/routes', { method: 'PUT', body: '{"version": 1, "environments": {}, "surprise": true}' });
    expect(raw.statusCode).toBe(400);
    expect(await raw.body.text()).toContain('Unrecognized key: \\"surprise\\"');
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

  it('adopts the running router on a second ensureRouter instead of starting another', async () => {
    const again = await ensureRouter({ stateDir });
    expect(again.pid).toBe(router.pid);
    expect(again.adminUrl).toBe(router.adminUrl);
  });

  it('restores routes.json after the router is killed (kill -9) and started again', async () => {
    const saved = await router.getRoutes();
    process.kill(router.pid, 'SIGKILL');
    await waitFor(async () => !(await router.isHealthy()));
    router = await ensureRouter({ stateDir });
    pids.add(router.pid);
    expect(await router.getRoutes()).toEqual(saved);
    await waitFor(async () => (await router.getStatus()).ready);
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
