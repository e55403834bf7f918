// A malformed request pipelined behind good ones on one keep-alive connection,
// through a real router process and a real backend that answers slowly: the
// router's own answer to the bad request (400, 431, 405) comes after the answers to
// the requests it read before it, never in their place, and then the connection
// closes. A client reads answers in the order it sent its requests, so an answer
// out of turn is taken for the answer to a request the backend may have acted on.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureRouter, type RouterClient } from '../src/router/router-client.ts';
import { freePort } from '../src/router/test-upstream.ts';
import { header, rawExchange, type RawExchange } from './support/raw-http.ts';

const H = 'Host: app.test\r\n';
/** Answered 300 ms late: the bad request behind it is read long before its answer exists. */
const SLOW = `GET /slow HTTP/1.1\r\n${H}\r\n`;
/** Answered in three chunks 100 ms apart. */
const STREAM = `GET /stream HTTP/1.1\r\n${H}\r\n`;
const NUL_IN_HEADER = `GET /bad HTTP/1.1\r\n${H}X-A: a\0b\r\n\r\n`;
/** Chunk data longer than its size: node's parser fails inside the body. */
const BAD_CHUNKS = 'Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n';
/** An answer of 8 MB: more than the socket takes at once, so it is written over many drains. */
const BIG_BYTES = 8 * 1024 * 1024;
const HEADERS_OVER_16KB = `GET /big HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(20_000)}\r\n\r\n`;

/** A backend on node:http: /slow after 300 ms, /stream in chunks, /big 8 MB, /read-body after the body, anything else at once. */
async function startSlowBackend(): Promise<{ url: string; server: Server; paths: string[] }> {
  const paths: string[] = [];
  const server = createServer((req, res) => {
    paths.push(req.url ?? '');
    if (req.url === '/slow') {
      setTimeout(() => res.end('slow done'), 300);
    } else if (req.url === '/stream') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const parts = ['one ', 'two ', 'three'];
      const next = (): void => {
        const part = parts.shift();
        if (part === undefined) res.end();
        else {
          res.write(part);
          setTimeout(next, 100);
        }
      };
      next();
    } else if (req.url === '/big') {
      res.end(Buffer.alloc(BIG_BYTES, 'b'));
    } else if (req.url === '/read-body') {
      // Answers only once the whole body came: a body that never ends gets no answer.
      req.resume();
      req.on('end', () => res.end('body read'));
    } else {
      res.end(`ok ${req.url}`);
    }
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  return { url: `http://127.0.0.1:${port}`, server, paths };
}

describe('a bad request pipelined behind good ones', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'slipway-router-pipelined-'));
  let router: RouterClient;
  let backend: Awaited<ReturnType<typeof startSlowBackend>>;
  let port = 0;

  beforeAll(async () => {
    port = await freePort();
    router = await ensureRouter({ stateDir, adminPort: await freePort() });
    backend = await startSlowBackend();
    const answer = await router.putRoutes({
      version: 1,
      environments: { test: { listen: `127.0.0.1:${port}`, backends: [{ id: 'b1', release: 'r1', url: backend.url }], weights: { r1: 100 } } },
    });
    expect(answer.listeners.test).toMatchObject({ listening: true });
  });

  afterAll(async () => {
    try {
      process.kill(-router.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    backend?.server.closeAllConnections();
    backend?.server.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  /** All of `bytes` in one write; what came back until the router closed. */
  const pipelined = (bytes: string): Promise<RawExchange> => rawExchange(port, [bytes], { timeoutMs: 5_000 });
  const summary = (x: RawExchange): string[] => x.responses.map((r) => `${r.start.split(' ')[1]} ${r.start.split(' ')[1] === '200' ? r.body.toString() : JSON.parse(r.body.toString()).error}`);

  it('answers a bad header behind a slow request after its 200, then closes', async () => {
    const x = await pipelined(SLOW + NUL_IN_HEADER);
    expect(summary(x)).toEqual(['200 slow done', '400 bad_request']);
    expect(header(x.responses[1]!, 'connection')).toEqual(['close']);
    expect(x.rest.length).toBe(0);
    expect(x.isClosed).toBe(true);
  });

  it('answers headers over 16KB behind a slow request with 431 after its 200, then closes', async () => {
    const x = await pipelined(SLOW + HEADERS_OVER_16KB);
    expect(summary(x)).toEqual(['200 slow done', '431 headers_too_large']);
    expect(x.isClosed).toBe(true);
  });

  it('answers a bad request behind two good ones after both, in order', async () => {
    const x = await pipelined(SLOW + `GET /quick HTTP/1.1\r\n${H}\r\n` + NUL_IN_HEADER);
    expect(summary(x)).toEqual(['200 slow done', '200 ok /quick', '400 bad_request']);
    expect(x.isClosed).toBe(true);
  });

  it('lets a streaming answer finish whole before the bad request behind it is answered', async () => {
    const x = await pipelined(STREAM + NUL_IN_HEADER);
    expect(summary(x)).toEqual(['200 one two three', '400 bad_request']);
    expect(x.isClosed).toBe(true);
  });

  it('answers a chunked body that does not parse, behind a slow request, with 400 in its place after the 200', async () => {
    const x = await pipelined(SLOW + `POST /read-body HTTP/1.1\r\n${H}${BAD_CHUNKS}`);
    expect(summary(x)).toEqual(['200 slow done', '400 bad_request']);
    expect(x.rest.length).toBe(0);
    expect(x.isClosed).toBe(true);
  });

  it('passes the answer a backend gave before a bad chunked body broke, whole, then closes with nothing after it', async () => {
    const x = await pipelined(SLOW + `POST /early HTTP/1.1\r\n${H}${BAD_CHUNKS}`);
    expect(summary(x)).toEqual(['200 slow done', '200 ok /early']);
    expect(x.rest.length).toBe(0);
    expect(x.isClosed).toBe(true);
  });

  it('answers a bad request on a kept-alive connection whose earlier answer is done', async () => {
    const x = await rawExchange(port, [`GET /first HTTP/1.1\r\n${H}\r\n`, NUL_IN_HEADER], { gapMs: 200, timeoutMs: 5_000 });
    expect(summary(x)).toEqual(['200 ok /first', '400 bad_request']);
    expect(x.isClosed).toBe(true);
  });

  it('refuses a CONNECT behind a slow request with its 405 after the 200', async () => {
    const x = await pipelined(SLOW + 'CONNECT app.test:443 HTTP/1.1\r\nHost: app.test:443\r\n\r\n');
    expect(summary(x)).toEqual(['200 slow done', '405 method_not_allowed']);
    expect(header(x.responses[1]!, 'allow')).toEqual(['GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS']);
    expect(x.isClosed).toBe(true);
  });

  it('refuses a CONNECT behind a large answer with its 405 after the whole answer', async () => {
    const x = await pipelined(`GET /big HTTP/1.1\r\n${H}\r\n` + 'CONNECT app.test:443 HTTP/1.1\r\nHost: app.test:443\r\n\r\n');
    expect(x.responses.map((r) => r.start.split(' ')[1])).toEqual(['200', '405']);
    expect(x.responses[0]!.body.length).toBe(BIG_BYTES);
    expect(x.isClosed).toBe(true);
  });

  it('survives a client that resets the connection while its CONNECT waits its turn', async () => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(SLOW + 'CONNECT app.test:443 HTTP/1.1\r\nHost: app.test:443\r\n\r\n');
    await new Promise((r) => setTimeout(r, 100));
    socket.resetAndDestroy();
    // Past the slow answer, which now goes to a reset connection.
    await new Promise((r) => setTimeout(r, 400));
    const x = await pipelined(`GET /after HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    expect(summary(x)).toEqual(['200 ok /after']);
    expect(readFileSync(join(stateDir, 'router.log'), 'utf8')).not.toMatch(/uncaught exception/);
  });

  it('answers once, however many bytes follow the bad request', async () => {
    const x = await rawExchange(port, [SLOW + NUL_IN_HEADER, 'more garbage\r\n\r\n', 'and more\r\n\r\n'], { gapMs: 50, timeoutMs: 5_000 });
    expect(summary(x)).toEqual(['200 slow done', '400 bad_request']);
    expect(x.rest.length).toBe(0);
    expect(x.isClosed).toBe(true);
  });

  it('counted each refusal once, and forwarded only the good requests', async () => {
    const refused = (await router.getStats()).refused.test!;
    expect(refused.bad_request).toBe(10);
    expect(refused.max_header_size).toBe(1);
    expect(backend.paths.filter((p) => !['/slow', '/stream', '/big', '/quick', '/first', '/after', '/read-body', '/early'].includes(p))).toEqual([]);
  });

  it('logged no uncaught exception in the router', () => {
    expect(readFileSync(join(stateDir, 'router.log'), 'utf8')).not.toMatch(/uncaught exception|unhandled rejection/);
  });
});
