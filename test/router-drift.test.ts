// The router's table changed behind the server's back (issue 19): by someone who
// holds the admin secret, a bug, a router restarted from an old routes.json. A real
// server, router and instances: the table is rewritten through the router's admin
// API, and every reconciler pass, comparing the router's version and digest with
// what the server sent, puts it right within 2 s, with an event, an audit entry by
// slipway-reconciler and a metric. While the two agree, nothing is sent.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTraffic } from '../src/cli/traffic.ts';
import type { SlipwayEvent } from '../src/core/events.ts';
import type { RouteTable, RouteTableHead, RouterHeadAnswer } from '../src/router/route-table.ts';
import {
  BIN, apiFetch, freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService,
  type ServerProcess, type ServiceOptions,
} from './support/harness.ts';
import { sampleSum } from './support/prom-text.ts';

describe('a router table rewritten behind the server\'s back', () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let service: ServiceOptions;
  let prodUrl: string;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir });

  /** The router's admin API, called as the server calls it: with the secret from the router's state dir. */
  async function admin<T>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> {
    const { adminUrl } = JSON.parse(readFileSync(join(dataDir, 'router', 'router.json'), 'utf8')) as { adminUrl: string };
    const secret = readFileSync(join(dataDir, 'router', 'admin.secret'), 'utf8').trim();
    const res = await fetch(adminUrl + path, {
      method, headers: { authorization: `Bearer ${secret}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: (await res.json()) as T };
  }

  /** Whether production answers with the release it should: through the router, on its own address. */
  async function servesProduction(): Promise<boolean> {
    try {
      const res = await fetch(prodUrl, { signal: AbortSignal.timeout(500) });
      return res.status === 200 && ((await res.json()) as { version: string }).version === '1.0.0';
    } catch {
      return false;
    }
  }

  /** Rewrites the table, then measures how long until production is served right again. */
  async function tamperAndTimeRepair(table: RouteTable): Promise<number> {
    const put = await admin('PUT', '/routes', table);
    expect(put.status).toBe(200);
    const at = Date.now();
    expect(await servesProduction()).toBe(false);
    await waitFor('production to be served again', servesProduction, 10_000);
    return Date.now() - at;
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

  it('sends nothing while the router runs the table the server sent', async () => {
    const first = await admin<RouterHeadAnswer>('GET', '/routes/head');
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({ digest: expect.stringMatching(/^[0-9a-f]{64}$/), ready: true });
    // Several reconciler passes: each compares, none sends (a send would raise the version).
    await new Promise((r) => setTimeout(r, 3000));
    expect((await admin<RouterHeadAnswer>('GET', '/routes/head')).json).toEqual(first.json);
  });

  it('points production back at its instances within 2 s of a table that sent it to a dead port', async () => {
    const current = (await admin<RouteTable>('GET', '/routes')).json;
    const prod = current.environments['hello/production']!;
    const deadPort = await freePort();
    const ms = await tamperAndTimeRepair({
      version: current.version + 1,
      environments: { ...current.environments, 'hello/production': { ...prod, backends: prod.backends.map((b) => ({ ...b, url: `http://127.0.0.1:${deadPort}` })) } },
    });
    console.log(`router drift (backends at a dead port) repaired in ${ms} ms`);
    expect(ms).toBeLessThan(2000);
    const after = (await admin<RouteTable>('GET', '/routes')).json;
    expect(after.version).toBeGreaterThan(current.version + 1);
    expect(after.environments['hello/production']?.backends).toEqual(prod.backends);

    // On record: an event, an audit entry by the reconciler, a metric.
    const events = await followEvents({ types: 'router.drift', count: 1 });
    expect(events[0]).toMatchObject({ type: 'router.drift', env: 'hello/production', level: 'warn', data: { repairedVersion: after.version } });
    expect(events[0]!.message).toMatch(/production .*sent the right table again/);
    const audit = await cli('--json', 'audit', '--actor', 'slipway-reconciler');
    expect(audit.code, audit.stderr).toBe(0);
    const entries = (JSON.parse(audit.stdout) as { entries: Array<{ action: string; env: string; details: { found: RouteTableHead } }> }).entries;
    expect(entries).toEqual([expect.objectContaining({ action: 'router.repair', env: 'hello/production', details: expect.objectContaining({ found: expect.objectContaining({ version: current.version + 1 }) }) })]);
    const metrics = await (await apiFetch(`${server.url}/metrics`)).text();
    expect(sampleSum(metrics, 'slipway_router_drift_repairs_total', { env: 'hello/production' })).toBe(1);
    expect((await cli('audit', 'verify')).code).toBe(0);
  });

  it('restores production\'s listener within 2 s of a table of the same version without it, under load', async () => {
    const current = (await admin<RouteTable>('GET', '/routes')).json;
    // An equal version is applied by the router (a server that crashed mid-push pushes again): only the digest tells.
    const ms = await tamperAndTimeRepair({ version: current.version, environments: {} });
    console.log(`router drift (production removed, same version) repaired in ${ms} ms`);
    expect(ms).toBeLessThan(2000);
    const events = await followEvents({ types: 'router.drift', count: 2 });
    expect(events[1]).toMatchObject({ env: 'hello/production', data: { found: { version: current.version } } });
    // Repaired for good: traffic after it sees no failure.
    const traffic = startTraffic({ url: prodUrl, concurrency: 4, maxDurationMs: 30_000, pauseMs: 2 });
    await new Promise((r) => setTimeout(r, 1500));
    const s = await traffic.stop();
    expect(s.failed, JSON.stringify(s.errors)).toBe(0);
    expect(s.ok).toBeGreaterThan(20);
    const status = await getJson<{ listenError: string | null }>(`${server.url}/api/environments/production`);
    expect(status.listenError).toBeNull();
  });

  /** `slipway --json events` as a user would follow them, from the first kept event, until `count` have come. */
  function followEvents(o: { types: string; count: number }): Promise<SlipwayEvent[]> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, '--data-dir', dataDir, '--json', 'events', '--types', o.types, '--after', '0'], { cwd: app, env: { ...process.env, NO_COLOR: '1', SLIPWAY_SERVER: '' } });
      let out = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`expected ${o.count} ${o.types} events, got: ${out}`));
      }, 15_000);
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const events = out.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as SlipwayEvent);
        if (events.length >= o.count) {
          clearTimeout(timer);
          child.kill('SIGTERM');
          resolve(events);
        }
      });
    });
  }
});
