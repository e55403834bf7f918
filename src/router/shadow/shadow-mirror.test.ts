// The router's shadow copies on real listeners and real backends (in-process Router):
// what is copied, with what, and what is counted instead of compared.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import type { ShadowStatsJson } from '../../core/shadow/shadow-spec.ts';
import { Router } from '../router.ts';
import type { RouteTable } from '../route-table.ts';
import type { ShadowRoutes } from './shadow-routes.ts';

interface Seen {
  method: string;
  url: string;
  isCopy: boolean;
  body: string;
  authorization: string | undefined;
}

/** A backend answering JSON: its name (noise between instances), the path, and `price` (changed by `bump`). */
async function backend(name: string, o: { bump?: number; big?: boolean } = {}): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, isCopy: req.headers['x-slipway-shadow'] === '1', body, authorization: req.headers.authorization });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ instance: name, path: req.url, price: 10 + (o.bump ?? 0), pad: o.big ? 'x'.repeat(4096) : '' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, seen, server };
}

const noPersist = async () => {};

describe('shadow mirror', () => {
  const router = new Router({ closeGraceMs: 500 });
  let version = 0;
  let backends: Awaited<ReturnType<typeof backend>>[] = [];

  async function route(shadow: Partial<ShadowRoutes> & { run: string }, candidate: { bump?: number; big?: boolean } = {}): Promise<string> {
    for (const b of backends) b.server.close();
    backends = [await backend('s1'), await backend('s2'), await backend('n1', candidate)];
    const table: RouteTable = {
      version: ++version,
      environments: {
        test: {
          listen: '127.0.0.1:0',
          backends: [{ id: `s1-${version}`, release: '1', url: backends[0]!.url }, { id: `s2-${version}`, release: '1', url: backends[1]!.url }, { id: `n1-${version}`, release: '2', url: backends[2]!.url }],
          weights: { 1: 100, 2: 0 },
          shadow: { stable: '1', candidate: '2', percent: 100, methods: ['GET', 'HEAD'], paths: ['/*'], ignore: [], headers: ['content-type'], maxInFlight: 32, maxBodyBytes: 1024 * 1024, ...shadow },
        },
      },
    };
    const r = await router.putTable(table, noPersist);
    if (!r.ok) throw new Error('stale');
    return `http://${r.listeners.test!.address}`;
  }

  const shadowStats = (): ShadowStatsJson => router.statsJson().shadow!.test!;
  async function settled(): Promise<ShadowStatsJson> {
    let last = -1;
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 30));
      const s = shadowStats();
      const done = s.compared + s.skipped.failed + s.skipped.bodyTooLarge + s.skipped.inflight + s.skipped.noBackend;
      if (done === s.sampled && done === last) return s;
      last = done;
    }
    return shadowStats();
  }

  afterAll(async () => {
    for (const b of backends) b.server.close();
    await router.close(500);
  });

  it('copies GETs to the new release with the user\'s headers, marked as copies, and never a POST unless listed', async () => {
    const url = await route({ run: 'a' });
    for (let i = 0; i < 10; i++) {
      const res = await request(`${url}/items/${i}`, { headers: { authorization: 'Bearer user-token' } });
      expect(JSON.parse(await res.body.text())).toMatchObject({ price: 10 });
    }
    const post = await request(`${url}/orders`, { method: 'POST', body: '{"n":1}' });
    await post.body.text();
    const s = await settled();
    expect(s).toMatchObject({ sampled: 10, compared: 10, differing: 0 });
    const copies = backends[2]!.seen;
    expect(copies).toHaveLength(10);
    expect(copies.every((c) => c.isCopy && c.method === 'GET' && c.authorization === 'Bearer user-token')).toBe(true);
    // The instance name differs between the two stable backends: noise, not a difference.
    expect(s.endpoints['GET /items/:id']!.fields['/body/instance']!.noise).toBeGreaterThan(0);
    // The user's POST reached one stable backend, once; no copy of it went anywhere.
    expect([...backends[0]!.seen, ...backends[1]!.seen, ...copies].filter((c) => c.method === 'POST')).toEqual([expect.objectContaining({ isCopy: false, body: '{"n":1}' })]);
  });

  it('copies a POST with its body when POST is listed by name, and names a changed field', async () => {
    const url = await route({ run: 'b', methods: ['POST'] }, { bump: 1 });
    for (let i = 0; i < 5; i++) {
      const res = await request(`${url}/orders`, { method: 'POST', body: `{"n":${i}}`, headers: { 'content-type': 'application/json' } });
      expect(JSON.parse(await res.body.text())).toMatchObject({ price: 10 });
    }
    const s = await settled();
    expect(backends[2]!.seen.map((c) => c.body)).toEqual(['{"n":0}', '{"n":1}', '{"n":2}', '{"n":3}', '{"n":4}']);
    expect(s).toMatchObject({ compared: 5, differing: 5 });
    expect(s.endpoints['POST /orders']!.examples[0]).toMatchObject({ field: '/body/price', stable: '10', candidate: '11' });
  });

  it('counts instead of comparing: answers over max_body, copies past the in-flight budget, a second stable backend that is down', async () => {
    let url = await route({ run: 'c', maxBodyBytes: 1024 }, { big: true });
    await (await request(`${url}/x`)).body.text();
    expect((await settled()).skipped.bodyTooLarge).toBe(1);

    // Only s1 is stable, so the second stable answer comes from it too; it goes down
    // once it has answered the user: that says nothing about the new release.
    url = await route({ run: 'd', stable: '1' });
    const s1 = backends[0]!.server;
    const onlyS1: RouteTable = { version: ++version, environments: { test: { listen: new URL(url).host, backends: [{ id: `s1-${version}`, release: '1', url: backends[0]!.url }, { id: `n1-${version}`, release: '2', url: backends[2]!.url }], weights: { 1: 100, 2: 0 }, shadow: { run: 'd', stable: '1', candidate: '2', percent: 100, methods: ['GET'], paths: ['/*'], ignore: [], headers: ['content-type'], maxInFlight: 32, maxBodyBytes: 1024 * 1024 } } } };
    expect((await router.putTable(onlyS1, noPersist)).ok).toBe(true);
    s1.once('request', (_req: IncomingMessage, res: ServerResponse) => res.once('finish', () => {
      s1.close();
      s1.closeAllConnections();
    }));
    const res = await request(`${url}/y`);
    expect(res.statusCode).toBe(200);
    await res.body.text();
    expect((await settled()).skipped.failed).toBe(1);

    url = await route({ run: 'e', maxInFlight: 1 });
    await Promise.all(Array.from({ length: 40 }, async (_, i) => (await request(`${url}/z/${i}`)).body.text()));
    const s = await settled();
    expect(s.sampled).toBe(40);
    expect(s.compared + s.skipped.inflight).toBe(40);
    expect(s.skipped.inflight).toBeGreaterThan(0);
  });

  it('counts a new release that is down as a difference in /status, saying why it gave no answer', async () => {
    const url = await route({ run: 'f' });
    backends[2]!.server.close();
    backends[2]!.server.closeAllConnections();
    for (let i = 0; i < 3; i++) {
      const res = await request(`${url}/y/${i}?token=t0k`);
      expect(res.statusCode).toBe(200);
      await res.body.text();
    }
    const s = await settled();
    expect(s).toMatchObject({ compared: 3, differing: 3, skipped: { failed: 0 } });
    expect(s.endpoints['GET /y/:id']!.examples[0]).toEqual({ endpoint: 'GET /y/:id', url: '/y/0?token=***', field: '/status', stable: '200', candidate: 'no answer: connection refused' });
  });
});
