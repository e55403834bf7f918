import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { routeTableDigest, type RouteTable, type RouterHeadAnswer } from '../router/route-table.ts';
import { StateStore } from '../store/state-store.ts';
import { RouteSync, type RouteDrift } from './route-sync.ts';
import { FleetSet } from './fleet-set.ts';

const quiet = { info: () => {}, warn: () => {}, error: () => {} };

/** A router double that keeps the last table and answers its head, as the router's admin API does. */
function fakeRouter() {
  const r = {
    table: { version: 0, environments: {} } as RouteTable,
    ready: true,
    puts: 0,
    heads: 0,
    failPuts: false,
    async putRoutes(t: RouteTable) {
      if (r.failPuts) throw new Error('router unreachable');
      if (t.version < r.table.version) throw Object.assign(new Error('stale'), { details: { currentVersion: r.table.version } });
      r.puts++;
      r.table = t;
      return { version: t.version, listeners: {} };
    },
    async getRoutes() {
      return r.table;
    },
    async getRouteHead(): Promise<RouterHeadAnswer> {
      r.heads++;
      return { version: r.table.version, digest: routeTableDigest(r.table), ready: r.ready };
    },
    async waitDrained() {
      return { drained: true, inflight: 0 };
    },
    async getStats() {
      return {} as never;
    },
  };
  return r;
}

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

async function started() {
  const store = new StateStore(join(mkdtempSync(join(tmpdir(), 'slipway-route-sync-')), 'state.db'));
  const router = fakeRouter();
  const sync = new RouteSync(store, new FleetSet([]), router, quiet);
  const drifts: RouteDrift[] = [];
  sync.onDrift((d) => drifts.push(d));
  await sync.seed();
  return { store, router, sync, drifts };
}

describe('route sync: drift of the router\'s table', () => {
  it('compares nothing before the first push, then sends nothing while the router agrees', async () => {
    const { router, sync, drifts } = await started();
    expect(await sync.checkDrift()).toBeNull();
    expect(router.heads).toBe(0);
    await sync.push();
    await sleep(300);
    expect(await sync.checkDrift()).toBeNull();
    expect([router.heads, router.puts, drifts.length]).toEqual([1, 1, 0]);
  });

  it('sends the table again, past the router\'s version, when its content or its version changed, and reports each', async () => {
    const { router, sync, drifts } = await started();
    await sync.push();
    const sent = router.table;
    router.table = { version: sent.version, environments: { production: { listen: '127.0.0.1:1', backends: [], weights: {} } } };
    await sleep(300);
    const drift = await sync.checkDrift();
    expect(drift).toMatchObject({ environments: ['production'], found: { version: sent.version }, sent: { version: sent.version, digest: routeTableDigest(sent) } });
    expect(router.table).toEqual({ version: sent.version + 1, environments: {} });
    expect(drift!.repairedVersion).toBe(sent.version + 1);

    router.table = { ...router.table, version: 500 };
    await sleep(300);
    expect(await sync.checkDrift()).toMatchObject({ environments: [], found: { version: 500 }, repairedVersion: 501 });
    expect(router.table.version).toBe(501);
    expect(drifts).toHaveLength(2);
  });

  it('waits for a router that has not restored its routes.json yet', async () => {
    const { router, sync, drifts } = await started();
    await sync.push();
    router.table = { version: 0, environments: {} };
    router.ready = false;
    await sleep(300);
    expect(await sync.checkDrift()).toBeNull();
    expect(drifts).toHaveLength(0);
  });

  it('asks the router at most every 250 ms whatever the number of callers, and one check at a time', async () => {
    const { router, sync } = await started();
    await sync.push();
    await sleep(300);
    const all = await Promise.all(Array.from({ length: 20 }, () => sync.checkDrift()));
    expect(all.every((d) => d === null)).toBe(true);
    expect(router.heads).toBe(1);
  });

  it('reports drift whose repair failed once a later push gets through', async () => {
    const { router, sync, drifts } = await started();
    await sync.push();
    router.table = { version: 40, environments: {} };
    router.failPuts = true;
    await sleep(300);
    expect(await sync.checkDrift()).toBeNull();
    expect(drifts).toHaveLength(0);
    router.failPuts = false;
    await sleep(300);
    expect(await sync.checkDrift()).toMatchObject({ found: { version: 40 }, repairedVersion: router.table.version });
    expect(router.table.version).toBeGreaterThan(40);
    expect(drifts).toHaveLength(1);
  });

  it('pushes again on the next check after a push failed, and never rejects', async () => {
    const { router, sync, drifts } = await started();
    await sync.push();
    router.failPuts = true;
    await expect(sync.push()).rejects.toThrow('router unreachable');
    await sleep(300);
    expect(await sync.checkDrift()).toBeNull();
    router.failPuts = false;
    const puts = router.puts;
    await sleep(300);
    expect(await sync.checkDrift()).toBeNull();
    expect(router.puts).toBe(puts + 1);
    expect(drifts).toHaveLength(0);
  });
});
