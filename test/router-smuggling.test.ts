// Request smuggling and malformed framing through a real router process: raw bytes
// from a client socket, and a raw TCP backend that records exactly what reaches it
// and parses it strictly (test/support/raw-http.ts). For every request the router
// either refuses it (a 4xx or 501, and the connection closed when the framing is in
// doubt) or forwards exactly one well-framed request whose body is the bytes the
// client framed; the backend never sees two requests where the client sent one. For
// every answer the client reads one unambiguous response (or a 502), never bytes it
// would take for a second one.
//
// Most refusals are node's parser's (llhttp), not the router's own code: they are
// kept here so that a Node or undici upgrade, or a lenient parser option, that lets
// one through fails a test. The router's own refusals are in forwardable-request.ts.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ensureRouter, type RouterClient } from '../src/router/router-client.ts';
import { freePort } from '../src/router/test-upstream.ts';
import { header, rawExchange, startRawBackend, type RawBackend, type RawExchange } from './support/raw-http.ts';

const H = 'Host: app.test\r\n';
const CHUNKED_HELLO = 'Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n';
/** A complete request a smuggler would hide in a body or behind a framing trick. */
const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: app.test\r\n\r\n';

/** Refused by node's parser: the router answers its own 400 and closes. */
const REFUSED_BY_PARSER: Array<[string, string]> = [
  ['CL.TE: Content-Length and Transfer-Encoding', `POST / HTTP/1.1\r\n${H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG`],
  ['TE.CL: Transfer-Encoding and Content-Length', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n`],
  ['two differing Content-Lengths', `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`],
  ['two equal Content-Lengths', `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`],
  ['Content-Length as a list', `POST / HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\nhello`],
  ['Content-Length: +5', `POST / HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello`],
  ['Content-Length: -1', `POST / HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\nhello`],
  ['Content-Length in hex', `POST / HTTP/1.1\r\n${H}Content-Length: 0x5\r\n\r\nhello`],
  ['Content-Length past 2^64', `POST / HTTP/1.1\r\n${H}Content-Length: 99999999999999999999999\r\n\r\nhello`],
  ['Transfer-Encoding: chunked, identity (chunked not last)', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n`],
  ['two Transfer-Encoding: chunked headers', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n${CHUNKED_HELLO}`],
  ['Transfer-Encoding then identity in a second header', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n`],
  ['a space before the colon (Transfer-Encoding : chunked)', `POST / HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\nhello`],
  ['a vertical tab before chunked', `POST / HTTP/1.1\r\n${H}Transfer-Encoding:\x0bchunked\r\nContent-Length: 5\r\n\r\nhello`],
  ['obs-fold (a header continued on the next line)', `GET / HTTP/1.1\r\n${H}X-A: one\r\n two\r\n\r\n`],
  ['obs-fold hiding Transfer-Encoding', `POST / HTTP/1.1\r\n${H}X-A: one\r\n Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello`],
  ['bare LF line endings', `GET / HTTP/1.1\nHost: app.test\nX-A: 1\n\n`],
  ['one bare LF among CRLFs', `GET / HTTP/1.1\r\n${H}X-A: 1\nX-B: 2\r\n\r\n`],
  ['a bare CR in a header line', `GET / HTTP/1.1\r\n${H}X-A: 1\rX-B: 2\r\n\r\n`],
  ['NUL in a header value', `GET / HTTP/1.1\r\n${H}X-A: a\0b\r\n\r\n`],
  ['DEL in a header value', `GET / HTTP/1.1\r\n${H}X-A: a\x7fb\r\n\r\n`],
  ['a space in the request-target', `GET /a ${SMUGGLED}`],
  ['HTTP/1.1 without Host', 'GET / HTTP/1.1\r\n\r\n'],
  ['an unknown HTTP version', `GET / HTTP/1.2\r\n${H}\r\n`],
];

/** Refused by the router itself (forwardable-request.ts, upgrade-proxy.ts): status, and the backend sees nothing. */
const REFUSED_BY_ROUTER: Array<[string, string, number]> = [
  ['Transfer-Encoding: gzip, chunked (a coding the router cannot pass on)', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, 501],
  ['Transfer-Encoding: identity, chunked', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: identity, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, 501],
  ['Transfer-Encoding: gzip and chunked in two headers', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n${CHUNKED_HELLO}`, 501],
  ['Transfer-Encoding: xchunked', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, 501],
  ['two Host headers', `GET / HTTP/1.1\r\n${H}Host: other.test\r\n\r\n`, 400],
  ['OPTIONS * (a target undici cannot send)', `OPTIONS * HTTP/1.1\r\n${H}\r\n`, 400],
  ['absolute-form naming another host than Host', `GET http://other.test/ HTTP/1.1\r\n${H}\r\n`, 400],
  ['absolute-form with userinfo', `GET http://other.test@app.test/ HTTP/1.1\r\n${H}\r\n`, 400],
  ['an upgrade request with a body', `POST / HTTP/1.1\r\n${H}Connection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`, 400],
];

/** Forwarded: the one request the backend must get (method, target, body), whatever else the client's bytes say. */
const FORWARDED: Array<[string, string, { method: string; target: string; body: string }]> = [
  ['Content-Length with spaces around it', `POST /a HTTP/1.1\r\n${H}Content-Length:  5 \r\n\r\nhello`, { method: 'POST', target: '/a', body: 'hello' }],
  ['Transfer-Encoding in mixed case', `POST /a HTTP/1.1\r\n${H}tRaNsFeR-eNcOdInG: ChUnKeD\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, { method: 'POST', target: '/a', body: 'hello' }],
  ['Transfer-Encoding after a tab', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding:\tchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, { method: 'POST', target: '/a', body: 'hello' }],
  ['chunk extensions', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;foo=bar\r\nhello\r\n0;x="y"\r\n\r\n`, { method: 'POST', target: '/a', body: 'hello' }],
  ['a chunk size with 16 leading-zero digits', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0000000000000005\r\nhello\r\n0\r\n\r\n`, { method: 'POST', target: '/a', body: 'hello' }],
  ['trailers after the last chunk', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n`, { method: 'POST', target: '/a', body: 'hello' }],
  ['a GET whose Content-Length body is a whole request', `GET /a HTTP/1.1\r\n${H}Content-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`, { method: 'GET', target: '/a', body: SMUGGLED }],
  ['a chunked DELETE', `DELETE /a HTTP/1.1\r\n${H}${CHUNKED_HELLO}`, { method: 'DELETE', target: '/a', body: 'hello' }],
  ['absolute-form naming the Host (sent on as the path)', `GET http://APP.test/a?q=1 HTTP/1.1\r\n${H}\r\n`, { method: 'GET', target: '/a?q=1', body: '' }],
  ['Connection: upgrade without Upgrade', `GET /a HTTP/1.1\r\n${H}Connection: upgrade\r\n\r\n`, { method: 'GET', target: '/a', body: '' }],
  ['Upgrade without Connection: upgrade', `GET /a HTTP/1.1\r\n${H}Upgrade: websocket\r\n\r\n`, { method: 'GET', target: '/a', body: '' }],
];

/**
 * A real router process in front of one raw backend (`id`), for the describe block
 * this is called in: started before its tests, killed and removed after them.
 */
function routerBeforeRawBackend(id: string): { router: RouterClient; port: number; backend: RawBackend; stateDir: string } {
  const ctx = { stateDir: mkdtempSync(join(tmpdir(), `slipway-router-smuggling-${id}-`)), port: 0 } as { router: RouterClient; port: number; backend: RawBackend; stateDir: string };
  beforeAll(async () => {
    ctx.port = await freePort();
    ctx.router = await ensureRouter({ stateDir: ctx.stateDir, adminPort: await freePort() });
    ctx.backend = await startRawBackend(id);
    const answer = await ctx.router.putRoutes({
      version: 1,
      environments: { test: { listen: `127.0.0.1:${ctx.port}`, backends: [{ id: ctx.backend.id, release: 'r1', url: ctx.backend.url }], weights: { r1: 100 } } },
    });
    expect(answer.listeners.test).toMatchObject({ listening: true });
  });
  afterAll(async () => {
    try {
      process.kill(-ctx.router.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await ctx.backend?.close();
    rmSync(ctx.stateDir, { recursive: true, force: true });
  });
  return ctx;
}

describe('request framing through the router', () => {
  const ctx = routerBeforeRawBackend('raw1');

  beforeEach(() => ctx.backend?.reset());

  const send = (parts: Array<string | Buffer>, o: Parameters<typeof rawExchange>[2] = {}): Promise<RawExchange> => rawExchange(ctx.port, parts, { responses: 1, ...o });
  const status = (x: RawExchange, i = 0): number => Number(x.responses[i]?.start.split(' ')[1] ?? 0);
  /** The backend may still be reading when the client has its answer: what it got is checked after a moment. */
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 100));

  it.each(REFUSED_BY_PARSER)('refuses %s with 400 and closes, forwarding nothing', async (_name, bytes) => {
    const x = await send([bytes]);
    expect(x.responses.map((r) => r.start)).toEqual(['HTTP/1.1 400 Bad Request']);
    expect(x.isClosed).toBe(true);
    await settle();
    expect(ctx.backend.requests).toEqual([]);
  });

  it.each(REFUSED_BY_ROUTER)('refuses %s, forwarding nothing', async (_name, bytes, expected) => {
    const x = await send([bytes]);
    expect(status(x)).toBe(expected);
    expect(x.responses).toHaveLength(1);
    expect(x.isClosed).toBe(true);
    await settle();
    expect(ctx.backend.requests).toEqual([]);
  });

  it('counts the requests it refuses itself as bad_request of the environment', async () => {
    const before = (await ctx.router.getStats()).refused.test?.bad_request ?? 0;
    for (const [, bytes] of REFUSED_BY_ROUTER) await send([bytes]);
    expect((await ctx.router.getStats()).refused.test?.bad_request).toBeGreaterThanOrEqual(before + REFUSED_BY_ROUTER.length);
  });

  it.each(FORWARDED)('forwards %s as exactly one request with the body the client framed', async (_name, bytes, want) => {
    const x = await send([bytes]);
    expect(x.responses.map((r) => r.start)).toEqual(['HTTP/1.1 200 OK']);
    expect(x.responses[0]!.body.toString()).toBe(`ok ${want.target}`);
    await settle();
    expect(ctx.backend.errors).toEqual([]);
    expect(ctx.backend.requests).toHaveLength(1);
    const got = ctx.backend.requests[0]!;
    expect(got.start).toBe(`${want.method} ${want.target} HTTP/1.1`);
    expect(got.body.toString('latin1')).toBe(want.body);
    expect(header(got, 'host')).toEqual(['app.test']);
    expect(header(got, 'transfer-encoding')).toEqual([]);
    expect(header(got, 'upgrade')).toEqual([]);
  });

  it('sends pipelined requests on as requests of their own and answers them in order', async () => {
    const x = await send([`GET /1 HTTP/1.1\r\n${H}\r\nPOST /2 HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhelloGET /3 HTTP/1.1\r\n${H}\r\n`], { responses: 3 });
    expect(x.responses.map((r) => r.body.toString())).toEqual(['ok /1', 'ok /2', 'ok /3']);
    expect(x.rest.length).toBe(0);
    await settle();
    expect(ctx.backend.requests.map((r) => `${r.start} ${r.body.toString()}`).sort()).toEqual(['GET /1 HTTP/1.1 ', 'GET /3 HTTP/1.1 ', 'POST /2 HTTP/1.1 hello']);
  });

  it('closes an HTTP/1.0 connection after its answer unless it asked for keep-alive', async () => {
    const once = await send([`GET /a HTTP/1.0\r\n${H}\r\n`]);
    expect(once.responses.map((r) => r.body.toString())).toEqual(['ok /a']);
    expect(once.isClosed).toBe(true);
    const kept = await send([`GET /a HTTP/1.0\r\n${H}Connection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n${H}Connection: keep-alive\r\n\r\n`], { responses: 2 });
    expect(kept.responses.map((r) => r.body.toString())).toEqual(['ok /a', 'ok /b']);
    expect(kept.isClosed).toBe(false);
  });

  it('forwards an HTTP/1.0 chunked body as its chunks say, then closes', async () => {
    const x = await send([`POST /a HTTP/1.0\r\n${H}${CHUNKED_HELLO}`]);
    expect(x.responses.map((r) => r.start)).toEqual(['HTTP/1.1 200 OK']);
    expect(x.isClosed).toBe(true);
    await settle();
    expect(ctx.backend.requests.map((r) => r.body.toString())).toEqual(['hello']);
  });

  it.each([
    ['a chunk size of 18 hex digits (overflow)', '1000000000000000005\r\nhello\r\n0\r\n\r\n'],
    ['a bare LF in a chunk extension', '5;foo\nbar\r\nhello\r\n0\r\n\r\n'],
    ['chunk data longer than its size', '5\r\nhelloXX\r\n0\r\n\r\n'],
  ])('answers 400 to %s and leaves no half-sent request on a backend connection', async (_name, chunks) => {
    const x = await send([`POST /bad HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${chunks}`]);
    expect(status(x)).toBe(400);
    expect(x.isClosed).toBe(true);
    // The backend may have had the head and some chunks; the connection it got them on
    // must not carry the next request as if it were more of that body.
    const next = await send([`POST /next HTTP/1.1\r\n${H}Content-Length: 4\r\n\r\nnext`]);
    expect(next.responses.map((r) => r.body.toString())).toEqual(['ok /next']);
    await settle();
    expect(ctx.backend.requests.filter((r) => r.start.startsWith('POST /bad'))).toEqual([]);
    expect(ctx.backend.requests.map((r) => `${r.start} ${r.body.toString()}`)).toEqual(['POST /next HTTP/1.1 next']);
    expect(ctx.backend.errors).toEqual([]);
  });

  it('answers a request-target over 16KB with 414 naming the limit, counted as max_header_size, and closes', async () => {
    const before = (await ctx.router.getStats()).refused.test?.max_header_size ?? 0;
    const x = await send([`GET /${'a'.repeat(20_000)}?q=1 HTTP/1.1\r\n${H}\r\n`]);
    expect(x.responses.map((r) => r.start)).toEqual(['HTTP/1.1 414 URI Too Long']);
    expect(JSON.parse(x.responses[0]!.body.toString())).toMatchObject({ error: 'uri_too_long', limit: 'max_header_size', limitBytes: 16_384 });
    expect(header(x.responses[0]!, 'connection')).toEqual(['close']);
    expect(x.isClosed).toBe(true);
    expect((await ctx.router.getStats()).refused.test?.max_header_size).toBe(before + 1);
    await settle();
    expect(ctx.backend.requests).toEqual([]);
  });

  it.each([
    ['one header over 16KB', `GET / HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(20_000)}\r\n\r\n`],
    ['40 headers of 500 bytes', `GET / HTTP/1.1\r\n${H}${Array.from({ length: 40 }, (_, i) => `X-${i}: ${'a'.repeat(500)}\r\n`).join('')}\r\n`],
    ['a request-target under 16KB whose headers take the head over it', `GET /${'a'.repeat(16_300)} HTTP/1.1\r\n${H}X-B: ${'b'.repeat(200)}\r\n\r\n`],
  ])('answers %s with 431 naming the limit, and closes', async (_name, bytes) => {
    const before = (await ctx.router.getStats()).refused.test?.max_header_size ?? 0;
    const x = await send([bytes]);
    expect(x.responses.map((r) => r.start)).toEqual(['HTTP/1.1 431 Request Header Fields Too Large']);
    expect(JSON.parse(x.responses[0]!.body.toString())).toMatchObject({ error: 'headers_too_large', limit: 'max_header_size', limitBytes: 16_384 });
    expect(x.isClosed).toBe(true);
    expect((await ctx.router.getStats()).refused.test?.max_header_size).toBe(before + 1);
    await settle();
    expect(ctx.backend.requests).toEqual([]);
  });

  it('answers 431 to a request-target over 16KB whose start reached it in an earlier read', async () => {
    // The parser fails in a read that does not show where the request line began: a
    // long target cannot be told from a long header there, so it says what is sure.
    const bytes = `GET /${'a'.repeat(20_000)} HTTP/1.1\r\n${H}\r\n`;
    const x = await send([bytes.slice(0, 1_000), bytes.slice(1_000)], { gapMs: 100 });
    expect(x.responses.map((r) => r.start)).toEqual(['HTTP/1.1 431 Request Header Fields Too Large']);
    expect(x.isClosed).toBe(true);
  });

  it('refuses CONNECT with 405 and Allow, saying it is no forward proxy, counted as bad_request, and closes', async () => {
    const before = (await ctx.router.getStats()).refused.test?.bad_request ?? 0;
    // A client that starts its TLS handshake at once: those bytes go nowhere either.
    const x = await send([`CONNECT app.test:443 HTTP/1.1\r\nHost: app.test:443\r\n\r\n\x16\x03\x01\x00\x05hello`]);
    expect(x.responses.map((r) => r.start)).toEqual(['HTTP/1.1 405 Method Not Allowed']);
    expect(header(x.responses[0]!, 'allow')).toEqual(['GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS']);
    expect(JSON.parse(x.responses[0]!.body.toString())).toMatchObject({ error: 'method_not_allowed', method: 'CONNECT' });
    expect(x.responses[0]!.body.toString()).toContain('does not proxy CONNECT');
    expect(x.rest.length).toBe(0);
    expect(x.isClosed).toBe(true);
    expect((await ctx.router.getStats()).refused.test?.bad_request).toBe(before + 1);
    await settle();
    expect(ctx.backend.requests).toEqual([]);
  });

  it('answers Expect: 100-continue itself, then forwards the body without the Expect', async () => {
    const x = await send([`POST /a HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 5\r\n\r\n`, 'hello'], { gapMs: 300 });
    expect(x.responses.map((r) => r.start)).toEqual(['HTTP/1.1 100 Continue', 'HTTP/1.1 200 OK']);
    await settle();
    expect(ctx.backend.requests.map((r) => r.body.toString())).toEqual(['hello']);
    expect(header(ctx.backend.requests[0]!, 'expect')).toEqual([]);
    const other = await send([`POST /a HTTP/1.1\r\n${H}Expect: something-else\r\nContent-Length: 5\r\n\r\nhello`]);
    expect(status(other)).toBe(417);
  });

  it('serves Upgrade: h2c as the plain HTTP/1.1 request, never as a tunnel to the backend', async () => {
    // A backend that would switch: through a tunnel, the client's HTTP/2 requests would
    // reach it with X-Forwarded-* of their own making and no routing by the router.
    ctx.backend.reply = () => 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n';
    const x = await send([`GET /a HTTP/1.1\r\n${H}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n`]);
    expect(x.text).not.toMatch(/^HTTP\/1\.1 101/);
    expect(x.isClosed).toBe(true);
    ctx.backend.reply = (req) => `HTTP/1.1 200 OK\r\nContent-Length: ${req.start.length}\r\n\r\n${req.start}`;
    const served = await send([`GET /a HTTP/1.1\r\n${H}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n`]);
    expect(served.responses.map((r) => r.body.toString())).toEqual(['GET /a HTTP/1.1']);
    await settle();
    const last = ctx.backend.requests[ctx.backend.requests.length - 1]!;
    expect(header(last, 'upgrade')).toEqual([]);
    expect(header(last, 'http2-settings')).toEqual([]);
  });

  it('logged no uncaught exception in the router while being fed all of this', () => {
    expect(readFileSync(join(ctx.stateDir, 'router.log'), 'utf8')).not.toMatch(/uncaught exception|unhandled rejection/);
  });
});

describe('response framing through the router', () => {
  const ctx = routerBeforeRawBackend('raw2');

  /**
   * Two pipelined GETs on one client connection: the first answered by `reply`, the
   * second by a plain 200 `second`. The client must read one answer to the first and
   * the second intact after it: nothing of the first may pass for a response.
   */
  async function exchange(reply: string, o: { cutAfterMs?: number; method?: string } = {}): Promise<RawExchange> {
    ctx.backend.reset();
    ctx.backend.reply = (req, socket) => {
      if (req.start.includes('/second')) return 'HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond';
      if (o.cutAfterMs !== undefined) setTimeout(() => socket.destroy(), o.cutAfterMs);
      return reply;
    };
    const method = o.method ?? 'GET';
    return rawExchange(ctx.port, [`${method} /r HTTP/1.1\r\n${H}\r\nGET /second HTTP/1.1\r\n${H}\r\n`], { responses: 2, heads: [method === 'HEAD', false] });
  }

  const starts = (x: RawExchange): string[] => x.responses.map((r) => `${r.start.split(' ')[1]} ${r.body.toString()}`);

  it.each([
    ['both Content-Length and Transfer-Encoding', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
    ['a Content-Length that is not a number', 'HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello'],
    ['Content-Length: -1', 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nhello'],
    ['two differing Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'],
    ['obs-fold hiding a Content-Length', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n Content-Length: 99\r\nContent-Length: 5\r\n\r\nhello'],
    ['bare LF line endings', 'HTTP/1.1 200 OK\nContent-Length: 5\n\nhello'],
    ['a control character in a header value', 'HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 5\r\n\r\nhello'],
    ['a 101 to a request that asked for no upgrade', `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil`],
  ])('answers 502 for a backend answer with %s, and the next response is intact', async (_name, reply) => {
    const x = await exchange(reply);
    expect(starts(x)).toEqual([expect.stringMatching(/^502 /), '200 second']);
    expect(x.rest.length).toBe(0);
  });

  it.each([
    ['Transfer-Encoding: gzip, chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
    ['gzip and chunked in two Transfer-Encoding headers', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
    ['Transfer-Encoding: deflate, chunked on a 404', 'HTTP/1.1 404 Not Found\r\nTransfer-Encoding: deflate, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
    // Not chunked last: the body runs to the close (RFC 9112 §6.3).
    ['Transfer-Encoding: gzip alone', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nhello'],
  ])('answers 502 for a backend answer with %s, a coding it cannot pass on, charged to the backend', async (_name, reply) => {
    const before = (await ctx.router.getStats()).environments.test!.r1!.upstreamErrors;
    const x = await exchange(reply, { cutAfterMs: 100 });
    expect(starts(x)).toEqual([expect.stringMatching(/^502 /), '200 second']);
    expect(x.rest.length).toBe(0);
    expect((await ctx.router.getStats()).environments.test!.r1!.upstreamErrors).toBe(before + 1);
  });

  it('passes a chunked answer whose Transfer-Encoding is written in another case', async () => {
    const x = await exchange('HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
    expect(starts(x)).toEqual(['200 hello', '200 second']);
  });

  it.each([
    ['103 Early Hints', 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n'],
    ['103, then 102', 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n'],
  ])('passes the final answer after %s, never the 1xx, and charges the backend nothing', async (_name, interim) => {
    const before = (await ctx.router.getStats()).environments.test!.r1!;
    const x = await exchange(`${interim}HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello`);
    expect(x.responses.map((r) => r.start)).toEqual(['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK']);
    expect(starts(x)).toEqual(['200 hello', '200 second']);
    expect(x.rest.length).toBe(0);
    const after = (await ctx.router.getStats()).environments.test!.r1!;
    expect(after.upstreamErrors).toBe(before.upstreamErrors);
    expect(after.retries).toBe(before.retries);
  });

  it('answers 502 to an unasked-for 100 Continue (an undici limit, pinned)', async () => {
    // undici 7 takes it for a broken answer (nodejs/undici#197). RFC 9110 §15.2 says a
    // client must parse it; an undici that does makes this '200 hello'.
    const unasked = await exchange('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello');
    expect(starts(unasked)).toEqual([expect.stringMatching(/^502 /), '200 second']);
  });

  it.each([
    ['a 304 with the Content-Length of the 200 it stands for (RFC 9110 §8.6)', 'HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\nETag: "v1"\r\n\r\n', '304 '],
    ['a 204 with a Content-Length', 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n', '204 '],
    ['a 204 followed by body bytes', 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello', '204 '],
    ['a 204 with a chunked body', 'HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', '204 '],
    ['a 304 naming the codings of the 200 it stands for (Transfer-Encoding: gzip, chunked)', 'HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: gzip, chunked\r\nETag: "v1"\r\n\r\n', '304 '],
  ])('passes %s on as a whole answer with no body', async (_name, reply, first) => {
    const x = await exchange(reply);
    expect(starts(x)).toEqual([first, '200 second']);
    expect(x.rest.length).toBe(0);
    expect(x.isClosed).toBe(false);
  });

  it('passes a HEAD answer without the body a backend wrongly sent after it', async () => {
    const x = await exchange('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello', { method: 'HEAD' });
    expect(starts(x)).toEqual(['200 ', '200 second']);
    expect(x.rest.length).toBe(0);
  });

  it('passes a HEAD answer naming a coding besides chunked: there is no body to code', async () => {
    const x = await exchange('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', { method: 'HEAD' });
    expect(starts(x)).toEqual(['200 ', '200 second']);
    expect(x.rest.length).toBe(0);
  });

  it('passes only the answered bytes when a backend sends more than its Content-Length', async () => {
    const x = await exchange('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil');
    expect(starts(x)).toEqual(['200 hello', '200 second']);
    expect(x.text).not.toContain('evil');
  });

  it('cuts the client connection when a backend closes mid-body, so no short body passes for a whole one', async () => {
    const declared = await exchange('HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nhello', { cutAfterMs: 50 });
    expect(declared.responses).toEqual([]);
    expect(declared.isClosed).toBe(true);
    const chunked = await exchange('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n', { cutAfterMs: 50 });
    expect(chunked.responses).toEqual([]);
    expect(chunked.isClosed).toBe(true);
    // A body that runs to the close is whole when the backend closes: the client gets it chunked.
    const toClose = await exchange('HTTP/1.1 200 OK\r\n\r\nhello', { cutAfterMs: 50 });
    expect(starts(toClose)).toEqual(['200 hello', '200 second']);
  });

  it('logged no uncaught exception in the router while being fed all of this', () => {
    expect(readFileSync(join(ctx.stateDir, 'router.log'), 'utf8')).not.toMatch(/uncaught exception|unhandled rejection/);
  });
});
