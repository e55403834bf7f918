// The proxy hot path, in-process (the router-process tests are in router.test.ts):
// header handling, bodies, retries and the router's own 502/503/504 answers.

import { createServer, request as httpRequest, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { DEFAULT_PROXY_SETTINGS } from './proxy-settings.ts';
import { Router } from './router.ts';
import type { RouteTable } from './route-table.ts';
import { startTestUpstream, type TestUpstream } from './test-upstream.ts';

const noPersist = async (): Promise<void> => {};

function rawRequest(url: string, o: { method: string; headers: Record<string, string>; body: string }): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: o.method, headers: o.headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

describe('proxy', () => {
  const router = new Router({ closeGraceMs: 1_000 });
  const upstreams: TestUpstream[] = [];
  let version = 0;

  async function route(backends: TestUpstream[], weights: Record<string, number> = { r1: 100 }): Promise<string> {
    const table: RouteTable = {
      version: ++version,
      environments: {
        test: {
          listen: '127.0.0.1:0',
          backends: backends.map((u) => ({ id: u.id, release: 'r1', url: u.url })),
          weights,
          proxy: { ...DEFAULT_PROXY_SETTINGS, responseTimeoutMs: 1_500 },
        },
      },
    };
    const result = await router.putTable(table, noPersist);
    if (!result.ok) throw new Error('stale');
    return `http://${result.listeners.test!.address}`;
  }

  async function upstream(id: string): Promise<TestUpstream> {
    const u = await startTestUpstream(id);
    upstreams.push(u);
    return u;
  }

  beforeAll(async () => {
    await upstream('a');
    await upstream('b');
  });

  afterAll(async () => {
    await router.close(500);
    await Promise.all(upstreams.map((u) => u.kill()));
  });

  it('forwards method, path, query and body, and adds X-Forwarded-* without hop-by-hop headers', async () => {
    const base = await route([upstreams[0]!]);
    // node:http, not undici: undici refuses to send a Connection header that lists other headers.
    const { status, text } = await rawRequest(`${base}/echo?x=1`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', te: 'trailers', 'proxy-authorization': 'secret', 'x-forwarded-for': '10.0.0.9', 'x-custom': 'kept', connection: 'keep-alive, x-drop', 'x-drop': 'gone' },
      body: 'hello body',
    });
    const echo = JSON.parse(text) as { method: string; path: string; body: string; headers: Record<string, string> };
    expect(status).toBe(200);
    expect(echo).toMatchObject({ method: 'POST', path: '/echo?x=1', body: 'hello body' });
    expect(echo.headers['x-custom']).toBe('kept');
    expect(echo.headers['x-forwarded-for']).toBe('10.0.0.9, 127.0.0.1');
    expect(echo.headers['x-forwarded-proto']).toBe('http');
    expect(echo.headers['x-forwarded-host']).toBe(new URL(base).host);
    expect(echo.headers.host).toBe(new URL(base).host);
    for (const h of ['te', 'proxy-authorization', 'x-drop']) expect(echo.headers[h]).toBeUndefined();
  });

  it('streams a large request and response body through', async () => {
    const base = await route([upstreams[0]!]);
    const big = 'x'.repeat(3 * 1024 * 1024);
    const res = await request(`${base}/echo`, { method: 'PUT', body: big });
    const echo = (await res.body.json()) as { body: string };
    expect(echo.body.length).toBe(big.length);
  });

  it('frees the backend when a client leaves in the middle of an endless response', async () => {
    const base = await route([upstreams[0]!]);
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(`${base}/stream`, { agent: false }, (res) => {
        res.once('data', () => {
          // Stop reading so backpressure builds up, then go away.
          res.pause();
          setTimeout(() => {
            req.destroy();
            resolve();
          }, 200);
        });
      });
      req.on('error', () => {});
      req.end();
      setTimeout(() => reject(new Error('no data')), 5_000);
    });
    const deadline = Date.now() + 5_000;
    while (router.inflight('a').requests !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(router.inflight('a').requests).toBe(0);
  });

  it('drops the backend’s hop-by-hop response headers and keeps the others', async () => {
    const base = await route([upstreams[0]!]);
    const res = await request(`${base}/hop`);
    await res.body.text();
    expect(res.headers['x-kept']).toBe('yes');
    expect(res.headers['proxy-note']).toBeUndefined();
    expect(res.headers['keep-alive']).not.toBe('timeout=1');
  });

  it('answers 503 with a JSON body when no weighted release has a backend', async () => {
    const base = await route([upstreams[0]!], { r1: 0 });
    const res = await request(`${base}/`);
    expect(res.statusCode).toBe(503);
    expect(((await res.body.json()) as { error: string }).error).toBe('no_backend');
    expect(router.statsJson().unrouted.test).toBeGreaterThanOrEqual(1);
  });

  it('answers 504 and counts a timeout when the backend sends no header in time', async () => {
    const base = await route([upstreams[0]!]);
    const before = router.statsJson().environments.test?.r1?.timeouts ?? 0;
    const res = await request(`${base}/slow?ms=6000`);
    await res.body.text();
    expect(res.statusCode).toBe(504);
    expect(router.statsJson().environments.test!.r1!.timeouts).toBe(before + 1);
  });

  it('retries a request on another backend when the first refuses the connection, POST included', async () => {
    const dead = await startTestUpstream('dead');
    await dead.kill();
    const base = await route([dead, upstreams[1]!]);
    const bodies: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await request(`${base}/echo`, { method: 'POST', body: `n${i}` });
      expect(res.statusCode).toBe(200);
      bodies.push(((await res.body.json()) as { body: string }).body);
    }
    expect(bodies).toEqual(['n0', 'n1', 'n2', 'n3']);
    expect(router.statsJson().environments.test!.r1!.retries).toBeGreaterThanOrEqual(2);
  });

  it('never sends a POST to a second backend once the first may have received it', async () => {
    // Backends that take the request, then die without answering: the connection is reset.
    let hits = 0;
    const dying: Server[] = [];
    const fakes: TestUpstream[] = [];
    for (const id of ['gets-it-1', 'gets-it-2']) {
      const server = createServer((req) => {
        hits++;
        req.socket.destroy();
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      dying.push(server);
      const port = (server.address() as { port: number }).port;
      fakes.push({ id, url: `http://127.0.0.1:${port}`, port, server, hits: 0, kill: async () => undefined });
    }
    try {
      const base = await route(fakes);
      // With a body (already streamed to the first backend) and without one (nothing
      // else would stop the retry): each reaches one backend only.
      const post = await request(`${base}/charge`, { method: 'POST', body: 'card=4242' });
      await post.body.text();
      expect(post.statusCode).toBe(502);
      expect(hits).toBe(1);
      const confirm = await request(`${base}/orders/42/confirm`, { method: 'POST' });
      await confirm.body.text();
      expect(confirm.statusCode).toBe(502);
      expect(hits).toBe(2);
      // A GET is safe to deliver twice: it goes to the other backend (which dies too).
      const get = await request(`${base}/`);
      await get.body.text();
      expect(get.statusCode).toBe(502);
      expect(hits).toBe(4);
    } finally {
      for (const s of dying) s.close();
    }
  });

  it('answers 502 and counts an upstream error when no backend can be reached', async () => {
    const dead = await startTestUpstream('dead2');
    await dead.kill();
    const base = await route([dead]);
    const before = router.statsJson().environments.test?.r1?.upstreamErrors ?? 0;
    const res = await request(`${base}/`);
    expect(res.statusCode).toBe(502);
    expect(((await res.body.json()) as { error: string }).error).toBe('upstream_unreachable');
    expect(router.statsJson().environments.test!.r1!.upstreamErrors).toBe(before + 1);
  });

  it('counts status classes and latency per release', async () => {
    const base = await route([upstreams[0]!]);
    const before = router.statsJson().environments.test!.r1!;
    for (const status of [200, 201, 302, 404, 500]) {
      const res = await request(`${base}/status/${status}`);
      await res.body.text();
      expect(res.statusCode).toBe(status);
    }
    const after = router.statsJson().environments.test!.r1!;
    expect(after.requests - before.requests).toBe(5);
    expect(after.status['2xx'] - before.status['2xx']).toBe(2);
    expect(after.status['3xx'] - before.status['3xx']).toBe(1);
    expect(after.status['4xx'] - before.status['4xx']).toBe(1);
    expect(after.status['5xx'] - before.status['5xx']).toBe(1);
    expect(after.latency.count - before.latency.count).toBe(5);
  });
});
