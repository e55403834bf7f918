// Issue 16, the front door, end to end: environments of a real slipway server
// (one slipway.yaml for now: services are not first-class yet) share one listen
// address, split by hosts: and by path_prefix:, deployed and rolled with the real
// CLI, instances and router. No DNS: every request names its host in the Host
// header. A second directory's slipway.yaml stands in for another service.

import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTraffic, type Traffic, type TrafficStats } from '../src/cli/traffic.ts';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import { apiFetch, freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type ServerProcess, type ServiceOptions } from './support/harness.ts';

interface Answer {
  status: number;
  json: Record<string, unknown>;
}

interface CliError {
  error: { code: string; message: string; details: Record<string, unknown> };
}

describe('environments sharing one listen address by host and path', () => {
  let work: string;
  let app: string;
  let other: string;
  let dataDir: string;
  let server: ServerProcess;
  let port: number;
  let listen: string;
  let service: ServiceOptions;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir });
  const cliIn = (dir: string, ...args: string[]) => runCli(args, { cwd: dir, dataDir });
  const status = (env: string) => getJson<EnvironmentStatus>(`${server.url}/api/environments/${env}`);

  async function get(host: string, path = '/'): Promise<Answer> {
    const res = await request(`http://${listen}${path}`, { headers: { host } });
    return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> };
  }

  /** `n` requests for the host and path: "status greeting" → count. */
  async function spread(host: string, path = '/', n = 100): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (let i = 0; i < n; i += 10) {
      const answers = await Promise.all(Array.from({ length: Math.min(10, n - i) }, () => get(host, path)));
      for (const a of answers) {
        const key = `${a.status} ${String(a.json.greeting ?? a.json.error)}`;
        out[key] = (out[key] ?? 0) + 1;
      }
    }
    return out;
  }

  /** What a deploy elsewhere must not change of an environment: its instances, releases, config versions, traffic. */
  async function recordOf(env: string) {
    const s = await status(env);
    return {
      listen: s.listen,
      listenError: s.listenError,
      stable: s.stable,
      lastRollout: s.lastRollout?.id ?? null,
      instances: s.instances.map((i) => ({ id: i.id, release: i.release, state: i.state, port: i.port, pid: i.pid })),
      weights: s.weights,
      releases: await getJson<unknown>(`${server.url}/api/environments/${env}/releases`),
      config: await getJson<unknown>(`${server.url}/api/environments/${env}/config/versions`),
    };
  }

  beforeAll(async () => {
    work = scratchDir();
    app = join(work, 'site');
    other = join(work, 'news');
    dataDir = join(work, '.slipway');
    port = await freePort();
    listen = `127.0.0.1:${port}`;
    service = {
      version: '1.0.0',
      envs: {
        blog: { instances: 2, port, extraYaml: 'hosts: [blog.example.com]', config: { GREETING: 'blog' } },
        shop: { instances: 2, port, extraYaml: 'hosts: [shop.example.com, www.shop.example.com]', config: { GREETING: 'shop' } },
        'shop-api': { instances: 1, port, extraYaml: 'hosts: [shop.example.com]\npath_prefix: /api\nstrip_prefix: true', config: { GREETING: 'shop-api' } },
      },
    };
    writeService(app, service);
    server = await startServerProcess(dataDir);
    for (const env of ['blog', 'shop', 'shop-api']) {
      const r = await cli('deploy', env);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    }
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('routes one address to blog and shop by Host, and shop\'s /api to shop-api with the prefix stripped', async () => {
    for (const env of ['blog', 'shop', 'shop-api']) {
      const s = await status(env);
      expect(s.listen, env).toBe(listen);
      expect(s.listenError, env).toBeNull();
    }
    expect(await spread('blog.example.com')).toEqual({ '200 blog': 100 });
    expect(await spread(`SHOP.example.com:${port}`)).toEqual({ '200 shop': 100 });
    expect(await spread('www.shop.example.com', '/')).toEqual({ '200 shop': 100 });
    expect(await spread('shop.example.com', '/api')).toEqual({ '200 shop-api': 100 });
    // The instance sees the path without /api: its own 404 names /orders, and /api/healthz is its /healthz.
    expect(await get('shop.example.com', '/api/orders?id=7')).toEqual({ status: 404, json: { error: 'no route for /orders' } });
    expect(await get('shop.example.com', '/api/healthz')).toEqual({ status: 200, json: { ok: true } });
    // Without the prefix, shop's own instances answer.
    expect(await get('shop.example.com', '/orders')).toEqual({ status: 404, json: { error: 'no route for /orders' } });
  });

  it('answers an unknown host with the router\'s own 404, never some service\'s', async () => {
    const r = await get('unknown.example.org');
    expect(r.status).toBe(404);
    expect(r.json).toMatchObject({ error: 'unknown_host', host: 'unknown.example.org', listen });
    expect(r.json.greeting).toBeUndefined();
  });

  it('rolls blog to v2 under load (about 2,000 requests to each host): 0 failed for both, shop untouched', async () => {
    const shopBefore = await recordOf('shop');
    const apiBefore = await recordOf('shop-api');
    // Bounded: 4 workers per host (8 in all), paced, at most 6,000 requests or 60 s per host.
    const load = (host: string): Traffic => startTraffic({ url: `http://${listen}/`, concurrency: 4, pauseMs: 5, maxRequests: 6_000, maxDurationMs: 60_000, headers: { host } });
    const traffic = { blog: load('blog.example.com'), shop: load('shop.example.com') };
    await new Promise((r) => setTimeout(r, 300));
    writeService(app, { ...service, version: '2.0.0' });
    const deploy = await cli('deploy', 'blog');
    // Past the deploy, until each host has had its 2,000.
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && (traffic.blog.stats().sent < 2_000 || traffic.shop.stats().sent < 2_000)) await new Promise((r) => setTimeout(r, 50));
    const [blog, shop]: [TrafficStats, TrafficStats] = await Promise.all([traffic.blog.stop(), traffic.shop.stop()]);
    console.log(`rolling blog on a shared listener: blog ${blog.ok}/${blog.sent} ok ${JSON.stringify(blog.versions)}, shop ${shop.ok}/${shop.sent} ok ${JSON.stringify(shop.versions)}`);
    expect(deploy.code, deploy.stdout + deploy.stderr).toBe(0);
    expect(blog.sent).toBeGreaterThanOrEqual(2_000);
    expect(shop.sent).toBeGreaterThanOrEqual(2_000);
    expect(blog.failed, JSON.stringify({ errors: blog.errors, byStatus: blog.byStatus })).toBe(0);
    expect(shop.failed, JSON.stringify({ errors: shop.errors, byStatus: shop.byStatus })).toBe(0);
    expect(blog.versions['1.0.0']).toBeGreaterThan(0);
    expect(blog.versions['2.0.0']).toBeGreaterThan(0);
    expect(Object.keys(shop.versions)).toEqual(['1.0.0']);
    const b = await status('blog');
    expect(b.stable?.number).toBe(2);
    expect(b.instances.map((i) => `${i.release}:${i.state}`)).toEqual(['2:ready', '2:ready']);
    // The other environments on the listener: the same instances (pids and ports), releases, config and weights.
    expect(await recordOf('shop')).toEqual(shopBefore);
    expect(await recordOf('shop-api')).toEqual(apiBefore);
  });

  it('refuses at deploy an environment claiming a host another routes on the listener, naming both, and changes nothing', async () => {
    const before = await Promise.all(['blog', 'shop', 'shop-api'].map(recordOf));
    writeService(other, { envs: { news: { instances: 1, port, extraYaml: 'hosts: [news.example.com, shop.example.com]', config: { GREETING: 'news' } } } });
    const r = await cliIn(other, '--json', 'deploy', 'news');
    expect(r.code, r.stdout + r.stderr).not.toBe(0);
    const e = (JSON.parse(r.stdout) as CliError).error;
    expect(e.code).toBe('E_LISTEN_CONFLICT');
    expect(e.message).toContain(`environments.news.hosts: host shop.example.com with path prefix / on ${listen} is already claimed by environment "hello/shop" (hosts of hello/shop#1); environments on one listener need different hosts or path prefixes; choose another host or path_prefix in slipway.yaml. Nothing was changed`);
    expect(e.details).toMatchObject({ env: 'hello/news', key: 'environments.news.hosts', address: listen, host: 'shop.example.com', pathPrefix: '/', holder: { kind: 'environment', env: 'hello/shop', release: 1 } });
    // Not even the environment was recorded; the others are as they were, and serve.
    expect((await apiFetch(`${server.url}/api/environments/news`)).status).toBe(404);
    expect(await Promise.all(['blog', 'shop', 'shop-api'].map(recordOf))).toEqual(before);
    expect(await spread('shop.example.com', '/', 50)).toEqual({ '200 shop': 50 });
    expect(await spread('news.example.com', '/', 10)).toEqual({ '404 unknown_host': 10 });

    // An environment without hosts: may not take the shared address at all.
    writeService(other, { envs: { news: { instances: 1, port, config: { GREETING: 'news' } } } });
    const plain = await cliIn(other, '--json', 'deploy', 'news');
    expect(plain.code).not.toBe(0);
    expect((JSON.parse(plain.stdout) as CliError).error.message).toContain(`environments.news.listen ${listen} is already used by environment "`);
    expect((JSON.parse(plain.stdout) as CliError).error.message).toContain('environments share an address only when each names hosts: ("hello/news" does not)');
    expect(await Promise.all(['blog', 'shop', 'shop-api'].map(recordOf))).toEqual(before);
  });

  it('lets a wildcard and an exact name coexist on the listener, the exact one winning', async () => {
    const before = await Promise.all(['blog', 'shop', 'shop-api'].map(recordOf));
    writeService(other, { envs: { news: { instances: 1, port, extraYaml: 'hosts: ["*.example.com"]', config: { GREETING: 'news' } } } });
    const r = await cliIn(other, 'deploy', 'news');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(await spread('news.example.com', '/', 50)).toEqual({ '200 news': 50 });
    expect(await spread('a.b.example.com', '/', 50)).toEqual({ '200 news': 50 });
    expect(await spread('blog.example.com', '/', 50)).toEqual({ '200 blog': 50 });
    expect(await spread('shop.example.com', '/', 50)).toEqual({ '200 shop': 50 });
    expect(await spread('shop.example.com', '/api', 50)).toEqual({ '200 shop-api': 50 });
    // A wildcard does not take its own domain.
    expect(await spread('example.com', '/', 10)).toEqual({ '404 unknown_host': 10 });
    expect(await Promise.all(['blog', 'shop', 'shop-api'].map(recordOf))).toEqual(before);
    // The same wildcard twice is a clash.
    const twin = join(work, 'twin');
    writeService(twin, { envs: { twin: { instances: 1, port, extraYaml: 'hosts: ["*.example.com"]' } } });
    const t = await cliIn(twin, '--json', 'deploy', 'twin');
    expect(t.code).not.toBe(0);
    expect((JSON.parse(t.stdout) as CliError).error.message).toContain(`environments.twin.hosts: host *.example.com with path prefix / on ${listen} is already claimed by environment "hello/news"`);
  });
});
