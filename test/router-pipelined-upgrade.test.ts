// An upgrade request (`Connection: Upgrade`) pipelined behind requests whose answers
// are still to come, on one keep-alive connection, through a real router process
// and a real backend: the upgrade waits its turn. Its 101 (then the new protocol's
// bytes), the backend's refusal of it, or the router's own, comes after the answers
// to the requests read before it, never in their place. A client reads answers in
// the order it sent its requests (RFC 9112 §9.3.2): a 101 written first would be
// taken for the answer to the first request, and that request's answer for bytes
// of the new protocol.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureRouter, type RouterClient } from '../src/router/router-client.ts';
import { freePort } from '../src/router/test-upstream.ts';
import { rawExchange, type RawExchange } from './support/raw-http.ts';

const H = 'Host: app.test\r\n';
/** Answered 300 ms late: the upgrade behind it is read long before its answer exists. */
const SLOW = `GET /slow HTTP/1.1\r\n${H}\r\n`;
const BIG_BYTES = 8 * 1024 * 1024;
/** An answer of 8 MB: more than the socket takes at once, so it is written over many drains. */
const BIG = `GET /big HTTP/1.1\r\n${H}\r\n`;
const upgrade = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\n${H}Connection: Upgrade\r\nUpgrade: echo\r\n${extra}\r\n`;

interface Backend {
  url: string;
  server: Server;
  /** The paths of the requests and upgrade requests it got, in order. */
  paths: string[];
}

/** /slow after 300 ms, /big at once; an upgrade to /echo switches and echoes bytes (/echo-once: its first bytes, then it closes), one to /no gets a 404. */
async function startBackend(): Promise<Backend> {
  const paths: string[] = [];
  const server = createServer((req, res) => {
    paths.push(req.url ?? '');
    if (req.url === '/slow') setTimeout(() => res.end('slow done'), 300);
    else if (req.url === '/big') res.end(Buffer.alloc(BIG_BYTES, 'b'));
    else res.end(`ok ${req.url}`);
  });
  server.on('upgrade', (req, socket: Socket, head: Buffer) => {
    paths.push(`upgrade ${req.url}`);
    socket.on('error', () => {});
    if (req.url !== '/echo' && req.url !== '/echo-once') {
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 10\r\nconnection: close\r\n\r\nno such ws');
      return;
    }
    socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
    if (req.url === '/echo') {
      if (head.length > 0) socket.write(head);
      socket.pipe(socket);
    } else if (head.length > 0) {
      socket.end(head);
    } else {
      socket.once('data', (d: Buffer) => socket.end(d));
    }
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  return { url: `http://127.0.0.1:${port}`, server, paths };
}

/** The status of each response head in `text`, in order, with what came between. */
function statusLines(text: string): string[] {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]!);
}

describe('an upgrade request pipelined behind requests still to be answered', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'slipway-router-pipelined-upgrade-'));
  let router: RouterClient;
  let backend: Backend;
  let port = 0;

  beforeAll(async () => {
    port = await freePort();
    router = await ensureRouter({ stateDir, adminPort: await freePort() });
    backend = await startBackend();
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

  const exchange = (parts: string[], o: { gapMs?: number; timeoutMs?: number } = {}): Promise<RawExchange> => rawExchange(port, parts, { timeoutMs: 1_500, ...o });

  it('switches protocols after the answer to the slow request before it, then passes bytes both ways', async () => {
    // 'ping' comes with the upgrade, 'pong' while it waits its turn: both reach the backend after the switch.
    const x = await exchange([SLOW + upgrade('/echo') + 'ping', 'pong'], { gapMs: 100 });
    expect(statusLines(x.text)).toEqual(['200', '101']);
    const switched = x.text.indexOf('HTTP/1.1 101');
    expect(x.text.slice(0, switched)).toContain('slow done');
    expect(x.text.slice(switched).endsWith('\r\n\r\npingpong')).toBe(true);
  });

  it('switches protocols after two answers, in order', async () => {
    const x = await exchange([SLOW + `GET /quick HTTP/1.1\r\n${H}\r\n` + upgrade('/echo-once') + 'ping']);
    expect(statusLines(x.text)).toEqual(['200', '200', '101']);
    expect(x.text.indexOf('slow done')).toBeLessThan(x.text.indexOf('ok /quick'));
    expect(x.text.endsWith('\r\n\r\nping')).toBe(true);
  });

  it('writes a large answer before it whole, then switches protocols', async () => {
    const x = await exchange([BIG + upgrade('/echo-once') + 'ping'], { timeoutMs: 5_000 });
    expect(statusLines(x.text.slice(0, 200))).toEqual(['200']);
    const switched = x.text.indexOf('HTTP/1.1 101', 100);
    expect(switched).toBeGreaterThan(BIG_BYTES);
    expect(x.text.slice(0, switched).match(/b/g)?.length).toBe(BIG_BYTES);
    expect(x.text.endsWith('\r\n\r\nping')).toBe(true);
  });

  it('passes the backend\'s refusal of the upgrade after the answer before it, then closes', async () => {
    const x = await exchange([SLOW + upgrade('/no')]);
    expect(x.responses.map((r) => r.start.split(' ')[1])).toEqual(['200', '404']);
    expect(x.responses[0]!.body.toString()).toBe('slow done');
    expect(x.isClosed).toBe(true);
  });

  it('gives the router\'s own refusal of the upgrade (a body declared) after the answer before it', async () => {
    const x = await exchange([SLOW + upgrade('/echo', 'Content-Length: 5\r\n') + 'hello']);
    expect(x.responses.map((r) => `${r.start.split(' ')[1]} ${r.start.startsWith('HTTP/1.1 200') ? r.body.toString() : JSON.parse(r.body.toString()).error}`)).toEqual(['200 slow done', '400 bad_request']);
    expect(x.isClosed).toBe(true);
  });

  it('gives the router\'s own refusal of a request it will not forward (two Host headers) after the answer before it', async () => {
    const x = await exchange([SLOW + upgrade('/echo', 'Host: other.test\r\n')]);
    expect(x.responses.map((r) => r.start.split(' ')[1])).toEqual(['200', '400']);
    expect(JSON.parse(x.responses[1]!.body.toString()).message).toContain('more than one Host');
    expect(x.isClosed).toBe(true);
  });

  it('never switches when the answer before it closes the connection', async () => {
    const before = backend.paths.length;
    const x = await exchange([`GET /slow HTTP/1.1\r\n${H}Connection: close\r\n\r\n` + upgrade('/echo') + 'ping']);
    expect(x.responses.map((r) => r.start.split(' ')[1])).toEqual(['200']);
    expect(x.text).not.toContain('101');
    expect(x.isClosed).toBe(true);
    expect(backend.paths.slice(before)).toEqual(['/slow']);
  });

  it('survives a client that resets the connection while its upgrade waits its turn', async () => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(SLOW + upgrade('/echo'));
    await new Promise((r) => setTimeout(r, 100));
    socket.resetAndDestroy();
    await new Promise((r) => setTimeout(r, 400));
    const x = await exchange([`GET /after HTTP/1.1\r\n${H}Connection: close\r\n\r\n`]);
    expect(x.responses.map((r) => r.body.toString())).toEqual(['ok /after']);
  });

  it('logged no uncaught exception in the router', () => {
    expect(readFileSync(join(stateDir, 'router.log'), 'utf8')).not.toMatch(/uncaught exception|unhandled rejection/);
  });
});
