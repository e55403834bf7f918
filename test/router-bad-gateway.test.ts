// The router's 502 says what went wrong with the backend, in words its user can act
// on: it could not connect, the backend answered with something that is no valid
// HTTP/1.1 response, or the backend closed the connection without a whole answer.
// A real router process in front of raw TCP backends that misbehave on purpose
// (test/support/raw-http.ts), and a port nothing listens on.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ensureRouter, type RouterClient } from '../src/router/router-client.ts';
import { freePort } from '../src/router/test-upstream.ts';
import { rawExchange, startRawBackend, type RawBackend, type RawReply } from './support/raw-http.ts';

interface BadGateway {
  status: number;
  error: string;
  message: string;
}

describe('the router\'s 502 names what the backend did', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'slipway-router-bad-gateway-'));
  let router: RouterClient;
  let one: RawBackend;
  let two: RawBackend;
  let port = 0;
  let deadUrl = '';
  let version = 0;

  /** Routes the environment to these backends (ids and urls), each its own release share of r1. */
  const route = async (backends: Array<{ id: string; url: string }>): Promise<void> => {
    const answer = await router.putRoutes({
      version: ++version,
      environments: { test: { listen: `127.0.0.1:${port}`, backends: backends.map((b) => ({ id: b.id, release: 'r1', url: b.url })), weights: { r1: 100 } } },
    });
    expect(answer.listeners.test).toMatchObject({ listening: true });
  };

  const get = async (method = 'GET'): Promise<BadGateway> => {
    const res = await request(`http://127.0.0.1:${port}/x`, { method, headers: { host: 'app.test' } });
    const body = (await res.body.json()) as { error: string; message: string };
    return { status: res.statusCode, error: body.error, message: body.message };
  };

  beforeAll(async () => {
    port = await freePort();
    deadUrl = `http://127.0.0.1:${await freePort()}`;
    router = await ensureRouter({ stateDir, adminPort: await freePort() });
    one = await startRawBackend('raw1');
    two = await startRawBackend('raw2');
  });

  beforeEach(() => {
    one?.reset();
    two?.reset();
  });

  afterAll(async () => {
    try {
      process.kill(-router.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await Promise.all([one?.close(), two?.close()]);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('says it could not connect when nothing listens at the backend\'s address', async () => {
    await route([{ id: 'dead', url: deadUrl }]);
    const x = await get();
    expect(x).toMatchObject({ status: 502, error: 'upstream_unreachable' });
    expect(x.message).toContain('could not connect to the backend');
    // No address of the backend, no retry it did not make.
    expect(x.message).not.toContain('127.0.0.1');
    expect(x.message).not.toMatch(/retr|another backend/);
  });

  it.each<[string, RawReply]>([
    ['bytes that are no HTTP response', () => 'hello there\r\n\r\n'],
    ['bare LF line endings', () => 'HTTP/1.1 200 OK\nContent-Length: 5\n\nhello'],
    ['both Content-Length and Transfer-Encoding', () => 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
    ['an unasked-for 101', () => 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'],
    ['response headers over 16KB', () => `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(20_000)}\r\nContent-Length: 2\r\n\r\nok`],
    ['Transfer-Encoding: gzip, chunked (a coding the router cannot pass on)', (_req, socket) => {
      setTimeout(() => socket.destroy(), 100);
      return 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n';
    }],
  ])('says the backend answered with an invalid response for %s', async (_name, reply) => {
    await route([one]);
    one.reply = reply;
    const x = await get();
    expect(x).toMatchObject({ status: 502, error: 'upstream_invalid_response' });
    expect(x.message).toContain('the backend answered, but not with a valid HTTP/1.1 response');
    expect(x.message).not.toContain('could not connect');
  });

  it.each<[string, RawReply]>([
    ['a close with no answer', (_req, socket) => {
      socket.end();
      return null;
    }],
    ['a reset with no answer', (_req, socket) => {
      socket.resetAndDestroy();
      return null;
    }],
    ['a reset in the middle of the response head', (_req, socket) => {
      socket.write('HTTP/1.1 200 OK\r\nX-A: 1\r\n');
      setTimeout(() => socket.resetAndDestroy(), 50);
      return null;
    }],
  ])('says the backend closed the connection before a whole answer for %s', async (_name, reply) => {
    await route([one]);
    one.reply = reply;
    const x = await get('POST');
    expect(x).toMatchObject({ status: 502, error: 'upstream_closed' });
    expect(x.message).toContain('the backend closed the connection before it had sent a whole response');
    expect(x.message).not.toContain('could not connect');
  });

  it('says a retry on another backend was made only when one was', async () => {
    await route([one, two]);
    const closeAtOnce: RawReply = (_req, socket) => {
      socket.end();
      return null;
    };
    one.reply = closeAtOnce;
    two.reply = closeAtOnce;
    // A GET goes once more, to the other backend, which fails as well.
    const retried = await get('GET');
    expect(retried).toMatchObject({ status: 502, error: 'upstream_closed' });
    expect(retried.message).toContain('another backend had been tried first');
    expect(one.requests.length + two.requests.length).toBe(2);
    // A POST is never sent twice.
    one.reset();
    two.reset();
    one.reply = closeAtOnce;
    two.reply = closeAtOnce;
    const once = await get('POST');
    expect(once).toMatchObject({ status: 502, error: 'upstream_closed' });
    expect(once.message).not.toContain('another backend');
    expect(one.requests.length + two.requests.length).toBe(1);
  });

  it.each<[string, string]>([
    ['an unasked-for 100 Continue', 'HTTP/1.1 100 Continue\r\n\r\n'],
    ['an unasked-for 101', 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'],
  ])('answers %s with one 502, never sending the request to a second backend', async (_name, answer) => {
    await route([one, two]);
    // The backend got the request and may have acted on it: an idempotent one too goes once.
    for (const method of ['GET', 'PUT']) {
      one.reset();
      two.reset();
      one.reply = () => answer;
      two.reply = () => answer;
      const x = await get(method);
      expect(x).toMatchObject({ status: 502, error: 'upstream_invalid_response' });
      expect(x.message).not.toContain('another backend');
      expect(one.requests.length + two.requests.length).toBe(1);
    }
  });

  it('answers an upgrade request whose backend sends an unasked-for 100 with one 502, sent to one backend', async () => {
    await route([one, two]);
    one.reply = () => 'HTTP/1.1 100 Continue\r\n\r\n';
    two.reply = () => 'HTTP/1.1 100 Continue\r\n\r\n';
    const x = await rawExchange(port, ['GET /ws HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'], { timeoutMs: 5_000 });
    expect(x.responses.map((r) => r.start.split(' ')[1])).toEqual(['502']);
    const body = JSON.parse(x.responses[0]!.body.toString()) as { error: string; message: string };
    expect(body.error).toBe('upstream_invalid_response');
    expect(body.message).not.toContain('another backend');
    expect(one.requests.length + two.requests.length).toBe(1);
  });

  it('logged no uncaught exception in the router', () => {
    expect(readFileSync(join(stateDir, 'router.log'), 'utf8')).not.toMatch(/uncaught exception|unhandled rejection/);
  });
});
