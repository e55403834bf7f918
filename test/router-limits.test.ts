// The router's per-environment proxy settings (slipway.yaml `proxy:`, issue 17) on
// a real router process, with route tables pushed to it directly and real backends
// on 127.0.0.1. Small limits keep every test short: what matters is that each limit
// holds, that what is within it passes, and that every answer the router gives
// itself names the limit. Also: forwarded headers by trust, streams that flow as
// they come, and event streams kept out of the latency analysis reads.

import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../src/config/load-config.ts';
import { histogramCount, quantileMs, subtractHistograms } from '../src/core/latency-histogram.ts';
import { DEFAULT_PROXY_SETTINGS } from '../src/router/proxy-settings.ts';
import { ensureRouter, type RouterClient } from '../src/router/router-client.ts';
import type { ProxyRoutes, RouteTable } from '../src/router/route-table.ts';
import { freePort, runLoad, startTestUpstream, type TestUpstream } from '../src/router/test-upstream.ts';
import { startWebSocketUpstream, type WebSocketUpstream } from '../src/router/test-websocket-upstream.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Answer {
  status: number;
  text: string;
}

/** Headers by which a proxy tells an app the client's address, scheme or port, beyond X-Forwarded-For/Proto/Host. */
const CLAIMS: Record<string, string> = {
  'x-forwarded-port': '443', 'x-forwarded-ssl': 'on', 'x-forwarded-scheme': 'https', 'front-end-https': 'on',
  'x-client-ip': '203.0.113.8', 'true-client-ip': '203.0.113.9', 'cf-connecting-ip': '203.0.113.10', 'forwarded-for': '203.0.113.11',
};

describe('the router’s proxy settings', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'slipway-router-limits-'));
  let router: RouterClient;
  let port = 0;
  let version = 0;
  let app: TestUpstream;
  let events: WebSocketUpstream;

  const base = (): string => `http://127.0.0.1:${port}`;

  async function push(proxy: Partial<ProxyRoutes> | null, backend: { id: string; url: string } = app): Promise<void> {
    const table: RouteTable = {
      version: ++version,
      environments: {
        test: {
          listen: `127.0.0.1:${port}`,
          backends: [{ id: backend.id, release: 'r1', url: backend.url }],
          weights: { r1: 100 },
          ...(proxy === null ? {} : { proxy: { ...DEFAULT_PROXY_SETTINGS, ...proxy } }),
        },
      },
    };
    expect((await router.putRoutes(table)).listeners.test).toMatchObject({ listening: true });
  }

  async function call(path: string, o: { method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string | Buffer | Readable } = {}): Promise<Answer> {
    const res = await request(base() + path, { method: o.method ?? 'GET', headers: o.headers ?? {}, body: o.body ?? null });
    return { status: res.statusCode, text: await res.body.text() };
  }

  beforeAll(async () => {
    port = await freePort();
    router = await ensureRouter({ stateDir });
    app = await startTestUpstream('app1');
    events = await startWebSocketUpstream('events1');
  });

  afterAll(async () => {
    try {
      process.kill(-router.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await Promise.all([app?.kill(), events?.kill()]);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('uses the same defaults as slipway.yaml when a table carries no proxy settings', () => {
    const config = parseConfigText('service: s\nrun: { command: node s.js }\nenvironments:\n  production: { listen: 8080 }\n', 'slipway.yaml');
    expect(config.environments.production!.proxy).toEqual(DEFAULT_PROXY_SETTINGS);
  });

  it('answers 504 naming response_timeout when headers take longer, and passes an answer within it', async () => {
    await push({ responseTimeoutMs: 1_000 });
    // Well past the limit, so a loaded machine's late timers cannot blur the two.
    const slow = await call('/slow?ms=4000');
    expect(slow.status).toBe(504);
    expect(JSON.parse(slow.text)).toMatchObject({ error: 'upstream_timeout', limit: 'response_timeout', limitMs: 1000 });
    expect(slow.text).toContain('within 1s (proxy.response_timeout in slipway.yaml');
    expect(await call('/slow?ms=600')).toEqual({ status: 200, text: 'app1' });
    // A long poll within a generous limit: what a fixed 30 s used to cut.
    await push({ responseTimeoutMs: 5_000 });
    expect(await call('/slow?ms=3000')).toEqual({ status: 200, text: 'app1' });
  });

  it('answers 413 naming max_body for a declared body over it, before the backend sees it, and passes one at the limit', async () => {
    await push({ maxBodyBytes: 1024 });
    const hitsBefore = app.hits;
    const over = await call('/echo', { method: 'POST', body: Buffer.alloc(1025, 97) });
    expect(over.status).toBe(413);
    expect(JSON.parse(over.text)).toMatchObject({ error: 'body_too_large', limit: 'max_body', limitBytes: 1024 });
    expect(over.text).toContain('over 1KB (proxy.max_body in slipway.yaml)');
    expect(app.hits).toBe(hitsBefore);
    const at = await call('/echo', { method: 'POST', body: Buffer.alloc(1024, 97) });
    expect(at.status).toBe(200);
    expect((JSON.parse(at.text) as { body: string }).body).toHaveLength(1024);
    expect((await router.getStats()).refused.test?.max_body).toBeGreaterThanOrEqual(1);
  });

  it('stops a chunked body that grows past max_body with a 413', async () => {
    await push({ maxBodyBytes: 4096 });
    const chunks = Array.from({ length: 16 }, () => Buffer.alloc(1024, 98));
    const over = await call('/echo', { method: 'POST', body: Readable.from(chunks) });
    expect(over.status).toBe(413);
    expect(JSON.parse(over.text)).toMatchObject({ limit: 'max_body' });
    // A client still sending megabytes when the router refuses reads the 413, not a
    // reset: the router reads and drops the rest for a moment before it closes.
    const big = await call('/echo', { method: 'POST', body: Readable.from(Array.from({ length: 64 }, () => Buffer.alloc(32 * 1024, 97))) });
    expect(big.status).toBe(413);
    const within = await call('/echo', { method: 'POST', body: Readable.from(chunks.slice(0, 4)) });
    expect(within.status).toBe(200);
    expect((JSON.parse(within.text) as { body: string }).body).toHaveLength(4096);
  });

  it('refuses a body over max_body before the client sends it when it asks with Expect: 100-continue', async () => {
    await push({ maxBodyBytes: 1024 });
    const answer = await new Promise<{ status: number; text: string; sentBody: boolean }>((resolve, reject) => {
      let sentBody = false;
      const req = httpRequest(`${base()}/echo`, { method: 'POST', headers: { expect: '100-continue', 'content-length': '5000' }, agent: false });
      req.on('continue', () => {
        sentBody = true;
        req.end(Buffer.alloc(5000));
      });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, sentBody }));
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    expect(answer).toMatchObject({ status: 413, sentBody: false });
    expect(answer.text).toContain('"limit":"max_body"');
  });

  it('answers 408 naming idle_timeout when a request body stalls, and cuts a response body that stalls', async () => {
    await push({ idleTimeoutMs: 500 });
    // A body that sends half of what it declared, then nothing.
    const stalled = await rawExchange(port, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello', 3_000);
    expect(stalled.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(stalled.text).toContain('"limit":"idle_timeout"');
    expect(stalled.elapsedMs).toBeGreaterThanOrEqual(450);
    // An event stream with 2 s between events is cut after 0.5 s of silence.
    await push({ idleTimeoutMs: 500 }, events);
    const startedAt = performance.now();
    const res = await request(`${base()}/events?n=3&ms=2000`);
    expect(res.statusCode).toBe(200);
    await expect(res.body.text()).rejects.toThrow();
    expect(performance.now() - startedAt).toBeLessThan(1_800);
  });

  it('answers request headers over 16KB with a 431 that says so', async () => {
    await push(null);
    const answer = await rawExchange(port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 3_000);
    expect(answer.text).toMatch(/^HTTP\/1\.1 431 /);
    expect(answer.text).toContain('"limit":"max_header_size"');
  });

  it('keeps X-Forwarded-Proto/Host and appends to X-Forwarded-For from a trusted proxy', async () => {
    await push({ trustForwarded: ['127.0.0.0/8'] });
    const echo = JSON.parse((await call('/echo', { headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.example.com', 'x-forwarded-for': '203.0.113.7', forwarded: 'for=203.0.113.7;proto=https' } })).text) as { headers: Record<string, string> };
    expect(echo.headers['x-forwarded-proto']).toBe('https');
    expect(echo.headers['x-forwarded-host']).toBe('shop.example.com');
    expect(echo.headers['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
    expect(echo.headers.forwarded).toBe('for=203.0.113.7;proto=https');
    // The proxy's other claims pass too, and its own X-Real-IP; without one the router sets it to the peer.
    const claims = JSON.parse((await call('/echo', { headers: { ...CLAIMS, 'x-real-ip': '203.0.113.7' } })).text) as { headers: Record<string, string> };
    for (const [name, value] of Object.entries(CLAIMS)) expect(claims.headers[name], name).toBe(value);
    expect(claims.headers['x-real-ip']).toBe('203.0.113.7');
    const bare = JSON.parse((await call('/echo')).text) as { headers: Record<string, string> };
    expect(bare.headers['x-real-ip']).toBe('127.0.0.1');
  });

  it('sets X-Forwarded-* from the connection, and drops Forwarded, for a peer it does not trust', async () => {
    await push({ trustForwarded: ['10.0.0.0/8'] });
    const echo = JSON.parse((await call('/echo', { headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example.com', 'x-forwarded-for': '203.0.113.7', forwarded: 'for=203.0.113.7' } })).text) as { headers: Record<string, string> };
    expect(echo.headers['x-forwarded-proto']).toBe('http');
    expect(echo.headers['x-forwarded-host']).toBe(`127.0.0.1:${port}`);
    expect(echo.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(echo.headers.forwarded).toBeUndefined();
    // Nor any other header that claims the client's address, scheme or port (Rack
    // believes X-Forwarded-Ssl, request-ip X-Client-IP): X-Real-IP is the peer's.
    const claims = JSON.parse((await call('/echo', { headers: { ...CLAIMS, 'x-real-ip': '203.0.113.7', 'X-Client-IP': '203.0.113.8', 'x-custom': 'kept' } })).text) as { headers: Record<string, string> };
    for (const name of Object.keys(CLAIMS)) expect(claims.headers[name], name).toBeUndefined();
    expect(claims.headers['x-client-ip']).toBeUndefined();
    expect(claims.headers['x-real-ip']).toBe('127.0.0.1');
    expect(claims.headers['x-custom']).toBe('kept');
    // An empty list trusts nobody, loopback included.
    await push({ trustForwarded: [] });
    const none = JSON.parse((await call('/echo', { headers: { 'x-forwarded-proto': 'https' } })).text) as { headers: Record<string, string> };
    expect(none.headers['x-forwarded-proto']).toBe('http');
  });

  it('drops what every Connection header lists, not only the last one', async () => {
    await push(null);
    const answer = await rawExchange(port, 'GET /echo HTTP/1.1\r\nHost: x\r\nConnection: x-first\r\nConnection: close, x-second\r\nX-First: 1\r\nX-Second: 2\r\nX-Third: 3\r\n\r\n', 5_000);
    const echo = JSON.parse(answer.text.slice(answer.text.indexOf('\r\n\r\n') + 4)) as { headers: Record<string, string> };
    expect(echo.headers['x-first']).toBeUndefined();
    expect(echo.headers['x-second']).toBeUndefined();
    expect(echo.headers['x-third']).toBe('3');
  });

  it('refuses a table whose proxy settings are malformed, naming the field', async () => {
    const bad = { version: ++version, environments: { test: { listen: `127.0.0.1:${port}`, backends: [], weights: {}, proxy: { ...DEFAULT_PROXY_SETTINGS, trustForwarded: ['lb.example.com'] } } } };
    await expect(router.putRoutes(bad as RouteTable)).rejects.toThrow(/environments\.test\.proxy\.trustForwarded\[0\]: must be an IP address or a CIDR/);
  });

  it('streams an event stream as it comes: the first event arrives long before the last', async () => {
    await push(null, events);
    const startedAt = performance.now();
    const res = await request(`${base()}/events?n=4&ms=300`);
    expect(res.headers['content-type']).toBe('text/event-stream');
    const arrivals: number[] = [];
    for await (const chunk of res.body) {
      for (const _ of String(chunk).matchAll(/data: /g)) arrivals.push(performance.now() - startedAt);
    }
    expect(arrivals).toHaveLength(4);
    expect(arrivals[0]!).toBeLessThan(700);
    expect(arrivals[3]! - arrivals[0]!).toBeGreaterThan(700);
  });

  it('keeps open event streams out of the latency it reports, and counts them as streams', async () => {
    await push(null, events);
    const before = (await router.getStats()).environments.test!.r1!;
    // Six event streams held open for 2 s (an event every 200 ms) while ordinary requests run.
    const streams = Array.from({ length: 6 }, () => request(`${base()}/events?n=10&ms=200`).then((r) => r.body.text()));
    await sleep(300);
    const during = (await router.getStats()).environments.test!.r1!;
    expect(during.streams.open - before.streams.open).toBe(6);
    const load = await runLoad({ url: `${base()}/`, concurrency: 4, total: 400 });
    expect(load.failed).toBe(0);
    await Promise.all(streams);
    const after = (await router.getStats()).environments.test!.r1!;
    const latency = subtractHistograms(after.latency, before.latency);
    expect(histogramCount(latency)).toBe(400);
    expect(after.requests - before.requests).toBe(400);
    expect(quantileMs(latency, 0.99)!).toBeLessThan(250);
    expect(after.streams).toMatchObject({ opened: before.streams.opened + 6, open: 0, errors: before.streams.errors });
    console.log(`p99 of 400 requests beside six 2 s event streams: ${quantileMs(latency, 0.99)!.toFixed(1)} ms (streams not counted)`);
  });

  it('serves plain requests through the router at a rate comparable to direct', async () => {
    await push(null);
    const time = async (url: string): Promise<number> => {
      const t = performance.now();
      const load = await runLoad({ url, concurrency: 8, total: 4_000 });
      expect(load.failed).toBe(0);
      return 4_000 / ((performance.now() - t) / 1000);
    };
    const direct = await time(`${app.url}/`);
    const routed = await time(`${base()}/`);
    console.log(`4,000 GETs at concurrency 8: direct ${direct.toFixed(0)} req/s, through the router ${routed.toFixed(0)} req/s`);
    expect(routed).toBeGreaterThan(direct * 0.15);
  });
});

/** Writes a raw request and reads until the router closes the connection (or `timeoutMs`). */
function rawExchange(port: number, text: string, timeoutMs: number): Promise<{ text: string; elapsedMs: number }> {
  return new Promise((resolve, reject) => {
    const startedAt = performance.now();
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    let out = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (out += d));
    socket.on('close', () => resolve({ text: out, elapsedMs: performance.now() - startedAt }));
    socket.on('error', reject);
    setTimeout(() => {
      socket.destroy();
      resolve({ text: out, elapsedMs: performance.now() - startedAt });
    }, timeoutMs);
  });
}
