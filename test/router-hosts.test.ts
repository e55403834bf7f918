// Issue 16, the front door: one listener shared by several environments, split by
// Host and then by path prefix, through a real router process started as the
// server starts it, with real backends on 127.0.0.1 and route tables pushed to it
// directly. No DNS: every request names its host in the Host header.

import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PROXY_SETTINGS } from '../src/router/proxy-settings.ts';
import { ensureRouter, type RouterClient } from '../src/router/router-client.ts';
import type { EnvRoutes, RouteTable } from '../src/router/route-table.ts';
import { freePort, runLoad, startTestUpstream, type LoadOutcome, type TestUpstream } from '../src/router/test-upstream.ts';
import { startWebSocketUpstream, type WebSocketUpstream } from '../src/router/test-websocket-upstream.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Answer {
  status: number;
  text: string;
}

/** An upgrade request written by hand: undici's WebSocket sets its own Host. The 101's x-upstream-id and a "whoami" frame say who answered. */
function openWebSocket(port: number, host: string, path = '/'): Promise<{ status: number; upstream: string | null; whoami: string | null; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let buffer = Buffer.alloc(0);
    let head: string | null = null;
    const done = (whoami: string | null) => {
      socket.destroy();
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head ?? '')?.[1] ?? 0);
      resolve({ status, upstream: /x-upstream-id: (\S+)/i.exec(head ?? '')?.[1] ?? null, whoami, body: whoami === null ? buffer.toString() : '' });
    };
    socket.on('error', reject);
    socket.setTimeout(5_000, () => done(null));
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (head === null) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        head = buffer.subarray(0, end).toString('latin1');
        buffer = buffer.subarray(end + 4);
        if (!head.startsWith('HTTP/1.1 101')) {
          socket.once('close', () => done(null));
          return;
        }
        // A masked text frame "whoami" (payload length < 126).
        const payload = Buffer.from('whoami');
        const mask = Buffer.from([1, 2, 3, 4]);
        socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!))]));
      }
      // The answer: an unmasked text frame, length < 126.
      if (buffer.length >= 2 && buffer.length >= 2 + (buffer[1]! & 0x7f)) done(buffer.subarray(2, 2 + (buffer[1]! & 0x7f)).toString());
    });
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  });
}

describe('one listener shared by host and path, through a real router process', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'slipway-router-hosts-'));
  const upstreams: TestUpstream[] = [];
  const wsUpstreams: WebSocketUpstream[] = [];
  let router: RouterClient;
  let version = 0;
  let port = 0;
  let listen = '';
  let u: Record<'blog1' | 'blog2' | 'shop1' | 'api1' | 'wild1' | 'eu1', TestUpstream>;

  const base = () => `http://127.0.0.1:${port}`;
  const env = (backends: TestUpstream[], extra: Partial<EnvRoutes> = {}, weights?: Record<string, number>): EnvRoutes => ({
    listen,
    backends: backends.map((b) => ({ id: b.id, release: 'r1', url: b.url })),
    weights: weights ?? { r1: 100 },
    ...extra,
  });
  /** blog and shop split one address by host: the setting most tests start from. */
  const blogAndShop = (): RouteTable['environments'] => ({
    blog: env([u.blog1], { hosts: ['blog.example.com'] }),
    shop: env([u.shop1], { hosts: ['shop.example.com', 'www.shop.example.com'] }),
  });

  async function push(environments: RouteTable['environments']) {
    return router.putRoutes({ version: ++version, environments });
  }

  async function get(host: string, path = '/', headers: Record<string, string> = {}): Promise<Answer> {
    const res = await request(base() + path, { headers: { host, ...headers } });
    return { status: res.statusCode, text: await res.body.text() };
  }

  /** Where `n` requests for the host and path went: upstream id (or status) → count. */
  async function spread(host: string, path = '/', n = 200): Promise<LoadOutcome> {
    return runLoad({ url: base() + path, concurrency: 4, total: n, headers: { host } });
  }

  beforeAll(async () => {
    port = await freePort();
    listen = `127.0.0.1:${port}`;
    router = await ensureRouter({ stateDir });
    const ids = ['blog1', 'blog2', 'shop1', 'api1', 'wild1', 'eu1'] as const;
    for (const id of ids) upstreams.push(await startTestUpstream(id));
    u = Object.fromEntries(ids.map((id, i) => [id, upstreams[i]!])) as typeof u;
  });

  afterAll(async () => {
    try {
      process.kill(-router.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await Promise.all([...upstreams, ...wsUpstreams].map((x) => x.kill()));
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('splits one address between blog and shop by Host, its port and case ignored (500 requests each)', async () => {
    const answer = await push(blogAndShop());
    expect(answer.listeners.blog).toMatchObject({ listen, listening: true, address: listen });
    expect(answer.listeners.shop).toMatchObject({ listen, listening: true, address: listen });
    const before = await router.getStats();
    const [blog, shop, www] = await Promise.all([
      spread(`Blog.Example.COM:${port}`, '/', 500),
      spread('shop.example.com', '/', 500),
      spread('www.shop.example.com.', '/', 100),
    ]);
    expect(blog).toMatchObject({ ok: 500, failed: 0, bodies: { blog1: 500 } });
    expect(shop).toMatchObject({ ok: 500, failed: 0, bodies: { shop1: 500 } });
    expect(www).toMatchObject({ ok: 100, failed: 0, bodies: { shop1: 100 } });
    // Stats stay per environment.
    const after = await router.getStats();
    const requests = (e: string, s: typeof before) => s.environments[e]?.r1?.requests ?? 0;
    expect(requests('blog', after) - requests('blog', before)).toBe(500);
    expect(requests('shop', after) - requests('shop', before)).toBe(600);
  });

  it('answers an unknown host itself, with a 404 naming the host and none of the others', async () => {
    await push(blogAndShop());
    const hits = upstreams.map((x) => x.hits);
    const before = await router.getStats();
    const r = await get('nope.example.org:8443', '/secret?token=abc');
    expect(r.status).toBe(404);
    const body = JSON.parse(r.text) as Record<string, string>;
    expect(body).toMatchObject({ error: 'unknown_host', host: 'nope.example.org', listen });
    expect(body.message).toContain(`no environment answers for host nope.example.org on ${listen}`);
    expect(r.text).not.toContain('blog.example.com');
    expect(r.text).not.toContain('token');
    // A bare IP as the host is a host like any other.
    expect((await get(`127.0.0.1:${port}`)).status).toBe(404);
    expect(upstreams.map((x) => x.hits)).toEqual(hits);
    const after = await router.getStats();
    expect(after.listeners[listen]!.unknownHost - (before.listeners[listen]?.unknownHost ?? 0)).toBe(2);
    expect(after.environments.blog).toEqual(before.environments.blog);
  });

  it('sends the longest path prefix of the host its way, stripped, with X-Forwarded-Prefix; whole segments only', async () => {
    await push({ ...blogAndShop(), api: env([u.api1], { hosts: ['shop.example.com'], pathPrefix: { path: '/api', strip: true } }) });
    const echo = async (path: string) => {
      const r = await get('shop.example.com', path);
      expect(r.status, r.text).toBe(200);
      return JSON.parse(r.text) as { id: string; path: string; headers: Record<string, string> };
    };
    expect(await echo('/api/echo?x=1')).toMatchObject({ id: 'api1', path: '/echo?x=1', headers: { 'x-forwarded-prefix': '/api', 'x-forwarded-host': 'shop.example.com' } });
    const shop = await echo('/echo');
    expect(shop).toMatchObject({ id: 'shop1', path: '/echo' });
    expect(shop.headers['x-forwarded-prefix']).toBeUndefined();
    // The bare prefix is / to the instance; /apis is not under /api.
    expect(await get('shop.example.com', '/api')).toEqual({ status: 200, text: 'api1' });
    expect(await get('shop.example.com', '/api?q=1')).toEqual({ status: 200, text: 'api1' });
    expect(await get('shop.example.com', '/apis')).toEqual({ status: 200, text: 'shop1' });
    // Another host's paths are that host's: blog has no /api.
    expect(await get('blog.example.com', '/api')).toEqual({ status: 200, text: 'blog1' });
    const split = await Promise.all([spread('shop.example.com', '/api/x', 300), spread('shop.example.com', '/x', 300)]);
    expect(split.map((s) => s.bodies)).toEqual([{ api1: 300 }, { shop1: 300 }]);
  });

  it('answers a path no environment of the host takes with a 404 naming the path, not its query', async () => {
    await push({ ...blogAndShop(), admin: env([u.api1], { hosts: ['admin.example.com'], pathPrefix: { path: '/admin', strip: false } }) });
    const r = await get('admin.example.com', '/other/page?session=s3cret');
    expect(r.status).toBe(404);
    expect(JSON.parse(r.text)).toMatchObject({ error: 'unknown_path', host: 'admin.example.com', path: '/other/page', listen });
    expect(r.text).not.toContain('s3cret');
    expect(await get('admin.example.com', '/admin/users')).toEqual({ status: 200, text: 'api1' });
    expect((await router.getStats()).listeners[listen]!.unknownPath).toBeGreaterThanOrEqual(1);
  });

  it('keeps a client\'s X-Forwarded-Prefix only from a trusted proxy, and puts the stripped prefix after it', async () => {
    const api = (trust: string[]) => env([u.api1], { hosts: ['shop.example.com'], pathPrefix: { path: '/api', strip: true }, proxy: { ...DEFAULT_PROXY_SETTINGS, trustForwarded: trust } });
    await push({ ...blogAndShop(), api: api(['127.0.0.0/8']) });
    const prefixSeen = async () => (JSON.parse((await get('shop.example.com', '/api/echo', { 'x-forwarded-prefix': '/outer/' })).text) as { headers: Record<string, string> }).headers['x-forwarded-prefix'];
    expect(await prefixSeen()).toBe('/outer/api');
    await push({ ...blogAndShop(), api: api([]) });
    expect(await prefixSeen()).toBe('/api');
    // Not stripped, untrusted: the client's own is dropped.
    await push({ ...blogAndShop(), shop: env([u.shop1], { hosts: ['shop.example.com'], proxy: { ...DEFAULT_PROXY_SETTINGS, trustForwarded: [] } }) });
    const shop = JSON.parse((await get('shop.example.com', '/echo', { 'x-forwarded-prefix': '/evil' })).text) as { headers: Record<string, string> };
    expect(shop.headers['x-forwarded-prefix']).toBeUndefined();
  });

  it('lets an exact name and a wildcard covering it coexist: the exact one wins, then the longest wildcard (200 requests each)', async () => {
    await push({
      ...blogAndShop(),
      wild: env([u.wild1], { hosts: ['*.example.com'] }),
      eu: env([u.eu1], { hosts: ['*.eu.example.com'] }),
    });
    const [shop, blog, other, deep, eu, euDeep, bare] = await Promise.all([
      spread('shop.example.com'), spread('blog.example.com'), spread('other.example.com'), spread('a.b.example.com'),
      spread('x.eu.example.com'), spread('a.b.eu.example.com'), spread('example.com'),
    ]);
    expect(shop.bodies).toEqual({ shop1: 200 });
    expect(blog.bodies).toEqual({ blog1: 200 });
    expect(other.bodies).toEqual({ wild1: 200 });
    expect(deep.bodies).toEqual({ wild1: 200 });
    expect(eu.bodies).toEqual({ eu1: 200 });
    expect(euDeep.bodies).toEqual({ eu1: 200 });
    // A wildcard never takes its own domain.
    expect(bare).toMatchObject({ ok: 0, failed: 200 });
    expect(bare.failures[0]).toMatch(/^404 .*unknown_host/);
  });

  it('routes WebSockets by host and path like requests, and refuses an unknown host with the same 404', async () => {
    const [wsBlog, wsShop] = [await startWebSocketUpstream('wsBlog'), await startWebSocketUpstream('wsShop')];
    wsUpstreams.push(wsBlog, wsShop);
    await push({
      blog: { listen, hosts: ['blog.example.com'], backends: [{ id: wsBlog.id, release: 'r1', url: wsBlog.url }], weights: { r1: 100 } },
      shop: { listen, hosts: ['shop.example.com'], pathPrefix: { path: '/live', strip: true }, backends: [{ id: wsShop.id, release: 'r1', url: wsShop.url }], weights: { r1: 100 } },
    });
    expect(await openWebSocket(port, 'blog.example.com')).toMatchObject({ status: 101, upstream: 'wsBlog', whoami: 'wsBlog' });
    expect(await openWebSocket(port, 'Shop.Example.com', '/live/socket')).toMatchObject({ status: 101, upstream: 'wsShop', whoami: 'wsShop' });
    expect(wsShop.upgradeHeaders.at(-1)!['x-forwarded-prefix']).toBe('/live');
    const unknown = await openWebSocket(port, 'nope.example.com');
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body)).toMatchObject({ error: 'unknown_host', host: 'nope.example.com' });
    const unknownPath = await openWebSocket(port, 'shop.example.com', '/elsewhere');
    expect(unknownPath.status).toBe(404);
    expect(JSON.parse(unknownPath.body)).toMatchObject({ error: 'unknown_path', path: '/elsewhere' });
  });

  it('keeps sticky canary routing per environment on a shared listener', async () => {
    await push({
      ...blogAndShop(),
      blog: { ...env([u.blog1]), hosts: ['blog.example.com'], backends: [{ id: u.blog1.id, release: 'r1', url: u.blog1.url }, { id: u.blog2.id, release: 'r2', url: u.blog2.url }], weights: { r1: 50, r2: 50 }, sticky: { canary: 'r2', stable: 'r1', header: 'x-user' } },
    });
    const canary = await runLoad({ url: base() + '/', concurrency: 2, total: 50, headers: { host: 'blog.example.com', 'x-slipway-track': 'canary' } });
    expect(canary.bodies).toEqual({ blog2: 50 });
    const alice = await runLoad({ url: base() + '/', concurrency: 2, total: 50, headers: { host: 'blog.example.com', 'x-user': 'alice' } });
    expect(Object.keys(alice.bodies)).toHaveLength(1);
    // The other environment on the listener has no canary: the header means nothing there.
    expect((await spread('shop.example.com', '/', 50)).bodies).toEqual({ shop1: 50 });
  });

  it('gives a preview listener of a shared environment every host, through its path prefix', async () => {
    const previewPort = await freePort();
    const answer = await push({
      ...blogAndShop(),
      blog: {
        ...env([u.blog1]), hosts: ['blog.example.com'], pathPrefix: { path: '/blog', strip: true },
        backends: [{ id: u.blog1.id, release: 'r1', url: u.blog1.url }, { id: u.blog2.id, release: 'r2', url: u.blog2.url }],
        weights: { r1: 100, r2: 0 }, preview: { listen: `127.0.0.1:${previewPort}`, release: 'r2' },
      },
    });
    expect(answer.listeners['blog:preview']).toMatchObject({ listening: true });
    const preview = await request(`http://127.0.0.1:${previewPort}/blog/echo`, { headers: { host: 'anything.example' } });
    expect(JSON.parse(await preview.body.text())).toMatchObject({ id: 'blog2', path: '/echo' });
    expect(await get('blog.example.com', '/blog/')).toEqual({ status: 200, text: 'blog1' });
  });

  it('rolls a new release of blog in under load with 0 failed requests for blog and shop, and never touches shop\'s backend', async () => {
    await push(blogAndShop());
    const shopHitsBefore = u.shop1.hits;
    const load = Promise.all([
      runLoad({ url: base() + '/', concurrency: 4, total: 2_000, untilMs: 60_000, headers: { host: 'blog.example.com' } }),
      runLoad({ url: base() + '/', concurrency: 4, total: 2_000, untilMs: 60_000, headers: { host: 'shop.example.com' } }),
    ]);
    // A rolling deploy as the engine drives it: the new backend in at weight 0, the
    // weights moved, the old backend out; and environments joining and leaving the
    // listener meanwhile (its routes swapped, never closed).
    const blog = (backends: Array<[TestUpstream, string]>, weights: Record<string, number>): EnvRoutes => ({
      listen, hosts: ['blog.example.com'], backends: backends.map(([b, release]) => ({ id: b.id, release, url: b.url })), weights,
    });
    const steps: RouteTable['environments'][] = [
      { ...blogAndShop(), blog: blog([[u.blog1, 'r1'], [u.blog2, 'r2']], { r1: 100, r2: 0 }) },
      { ...blogAndShop(), blog: blog([[u.blog1, 'r1'], [u.blog2, 'r2']], { r1: 50, r2: 50 }), extra: env([u.wild1], { hosts: ['extra.example.com'] }) },
      { ...blogAndShop(), blog: blog([[u.blog1, 'r1'], [u.blog2, 'r2']], { r1: 0, r2: 100 }) },
      { ...blogAndShop(), blog: blog([[u.blog2, 'r2']], { r2: 100 }), extra: env([u.wild1], { hosts: ['extra.example.com'] }) },
      { ...blogAndShop(), blog: blog([[u.blog2, 'r2']], { r2: 100 }) },
    ];
    for (const step of steps) {
      await sleep(150);
      const answer = await push(step);
      expect(answer.listeners.shop).toMatchObject({ listening: true });
    }
    const [blogLoad, shopLoad] = await load;
    console.log(`rolling blog under load on a shared listener: blog ${blogLoad.ok}/${blogLoad.ok + blogLoad.failed} ok ${JSON.stringify(blogLoad.bodies)}, shop ${shopLoad.ok}/${shopLoad.ok + shopLoad.failed} ok`);
    expect(blogLoad.failed, blogLoad.failures.join('\n')).toBe(0);
    expect(shopLoad.failed, shopLoad.failures.join('\n')).toBe(0);
    expect(blogLoad.ok).toBe(2_000);
    expect(shopLoad.ok).toBe(2_000);
    expect(blogLoad.bodies.blog1).toBeGreaterThan(0);
    expect(blogLoad.bodies.blog2).toBeGreaterThan(0);
    expect(shopLoad.bodies).toEqual({ shop1: 2_000 });
    expect(u.shop1.hits - shopHitsBefore).toBe(2_000);
    // After the roll, blog is all new release.
    expect((await spread('blog.example.com', '/', 100)).bodies).toEqual({ blog2: 100 });
  });

  it('keeps a host with the environment serving it: a newcomer claiming it is reported, and gets nothing', async () => {
    await push(blogAndShop());
    // First in table order: the environment already serving the host keeps it all the same.
    const answer = await push({ aaa: env([u.wild1], { hosts: ['shop.example.com'] }), ...blogAndShop() });
    expect(answer.listeners.shop).toMatchObject({ listening: true });
    expect(answer.listeners.blog).toMatchObject({ listening: true });
    expect(answer.listeners.aaa).toEqual({
      listen, listening: false,
      error: `cannot route host shop.example.com with path prefix / on ${listen}: environment "shop" has it there; give environment "aaa" other hosts or another path_prefix`,
    });
    expect((await spread('shop.example.com')).bodies).toEqual({ shop1: 200 });
  });

  it('keeps the listener from an environment without hosts, and says so, while the others serve', async () => {
    await push(blogAndShop());
    const answer = await push({ ...blogAndShop(), plain: env([u.wild1]) });
    expect(answer.listeners.plain).toMatchObject({ listening: false, error: expect.stringContaining(`cannot listen on ${listen}: environment "blog" listens there; give environment "plain" an address of its own, or name hosts: in both to share it ("plain" names none)`) });
    expect((await spread('blog.example.com')).bodies).toEqual({ blog1: 200 });
    expect((await spread('anything.example.com')).failed).toBe(200);
  });
});
