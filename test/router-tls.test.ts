// Issue 18, TLS at the router with certificate files: certificates made by openssl
// in the test, a real router process, real backends, real HTTP/1.1, HTTP/2 and
// WebSocket clients on 127.0.0.1. Tables are pushed to the router directly, as
// the server pushes them.

import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as http2ClientConnect, type IncomingHttpHeaders } from 'node:http2';
import { connect as tlsConnect } from 'node:tls';
import { Agent as HttpsAgent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import acme from 'acme-client';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureRouter, type RouterClient } from '../src/router/router-client.ts';
import { DEFAULT_PROXY_SETTINGS } from '../src/router/proxy-settings.ts';
import type { EnvRoutes, RouteTable } from '../src/router/route-table.ts';
import { freePort, startTestUpstream, type TestUpstream } from '../src/router/test-upstream.ts';
import { startWebSocketUpstream, type WebSocketUpstream } from '../src/router/test-websocket-upstream.ts';
import { makeTestCa, makeTestCertificate, type TestCa, type TestCertificate } from './support/tls-certs.ts';
import { SSL_TLV, v2Header } from './support/proxy-headers.ts';
import { alpnHandshake, http2Get, https1Get, peerCertificate } from './support/tls-clients.ts';

interface PlainAnswer {
  status: number;
  location: string | undefined;
  body: string;
}

/**
 * A plain-HTTP request from `localAddress` (default 127.0.0.1), its connection
 * opened with `proxyHeader` when given, as a balancer in front would send it.
 */
function plainRequest(port: number, o: { host: string; path?: string; localAddress?: string; proxyHeader?: Buffer; headers?: Record<string, string> }): Promise<PlainAnswer> {
  return new Promise((resolve, reject) => {
    const createConnection = () => {
      const socket = connect({ host: '127.0.0.1', port, localAddress: o.localAddress ?? '127.0.0.1' });
      if (o.proxyHeader !== undefined) socket.write(o.proxyHeader);
      return socket;
    };
    const req = httpRequest({ createConnection, path: o.path ?? '/', headers: { host: o.host, ...o.headers }, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Writes `bytes` on a raw connection from 127.0.0.1; resolves with the head of what came back. */
function rawHead(port: number, bytes: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1' }, () => socket.write(bytes));
    let text = '';
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(text.split('\r\n\r\n')[0]!);
    };
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer head, got ${JSON.stringify(text)}`));
    }, 5_000);
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      if (text.includes('\r\n\r\n')) done();
    });
    socket.on('error', reject);
  });
}

/** An HTTP/2 CONNECT to `authority` over a TLS listener: the answer's headers and body. */
function http2Connect(o: { port: number; authority: string; servername: string; ca: string }): Promise<{ headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const session = http2ClientConnect(`https://127.0.0.1:${o.port}`, { ca: o.ca, servername: o.servername });
    session.on('error', reject);
    const stream = session.request({ ':method': 'CONNECT', ':authority': o.authority });
    let headers: IncomingHttpHeaders = {};
    let body = '';
    stream.setEncoding('utf8');
    stream.on('response', (h) => (headers = h));
    stream.on('data', (d: string) => (body += d));
    stream.on('error', reject);
    // A CONNECT stream stays open for writing after the answer: its readable end is the answer's.
    stream.on('end', () => {
      session.destroy();
      resolve({ headers, body });
    });
  });
}

/** An HTTP/1.1 CONNECT to `authority` over a TLS listener: the answer's head and body, read until the router closes. */
function https1Connect(o: { port: number; authority: string; servername: string; ca: string }): Promise<{ head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: o.port, servername: o.servername, ca: o.ca, ALPNProtocols: ['http/1.1'] }, () => {
      socket.write(`CONNECT ${o.authority} HTTP/1.1\r\nHost: ${o.authority}\r\n\r\n`);
    });
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', reject);
    socket.on('close', () => {
      const at = text.indexOf('\r\n\r\n');
      resolve({ head: text.slice(0, at), body: text.slice(at + 4) });
    });
    setTimeout(() => socket.destroy(), 5_000).unref();
  });
}

describe('TLS at the router with certificate files', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'slipway-router-tls-'));
  const certDir = mkdtempSync(join(tmpdir(), 'slipway-tls-certs-'));
  let router: RouterClient;
  let version = 0;
  let ca: TestCa;
  let shopCert: TestCertificate;
  let blogCert: TestCertificate;
  let shop: TestUpstream;
  let blog: TestUpstream;
  let ws: WebSocketUpstream;
  let port = 0;
  let httpPort = 0;

  const tlsEnv = (up: { id: string; url: string }, hosts: string[], cert: TestCertificate, extra: Partial<EnvRoutes['tls'] & object> = {}): EnvRoutes => ({
    listen: `127.0.0.1:${port}`,
    backends: [{ id: up.id, release: 'r1', url: up.url }],
    weights: { r1: 100 },
    hosts,
    tls: { certificates: [{ cert: cert.cert, key: cert.key }], redirectHttp: false, ...extra },
  });
  const push = (environments: RouteTable['environments']) => router.putRoutes({ version: ++version, environments });
  /** The router's 308s to https so far on the plain listener at `plainPort`. */
  const redirectedOn = async (plainPort: number) => (await router.getStats()).listeners[`127.0.0.1:${plainPort}`]?.redirected ?? 0;
  const both = (shopExtra: Partial<EnvRoutes['tls'] & object> = {}) => ({
    shop: tlsEnv(shop, ['shop.test', 'www.shop.test'], shopCert, { httpListen: `127.0.0.1:${httpPort}`, ...shopExtra }),
    blog: tlsEnv(blog, ['blog.test'], blogCert),
    chat: { ...tlsEnv(ws, ['chat.test'], blogCert), tls: undefined },
  });

  beforeAll(async () => {
    ca = makeTestCa(certDir);
    shopCert = makeTestCertificate(ca, 'shop', ['shop.test', 'www.shop.test']);
    blogCert = makeTestCertificate(ca, 'blog', ['blog.test', 'chat.test']);
    [port, httpPort] = [await freePort(), await freePort()];
    router = await ensureRouter({ stateDir });
    shop = await startTestUpstream('shop1');
    blog = await startTestUpstream('blog1');
    ws = await startWebSocketUpstream('chat1');
  });

  afterAll(async () => {
    try {
      process.kill(-router.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await Promise.all([shop, blog, ws].map((x) => x?.kill()));
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(certDir, { recursive: true, force: true });
  });

  it('serves HTTP/1.1 and HTTP/2 clients with 200, each host its own certificate by SNI', async () => {
    const answer = await push(both());
    expect(answer.listeners.shop).toMatchObject({ listening: true, tls: { certificates: [{ names: ['shop.test', 'www.shop.test'] }, { names: ['blog.test', 'chat.test'] }] } });
    const h1 = await https1Get({ port, host: 'shop.test', ca: ca.cert });
    expect(h1).toMatchObject({ status: 200, body: 'shop1', certCn: 'shop.test', alpn: false });
    const h2 = await http2Get({ port, host: 'blog.test', ca: ca.cert });
    expect(h2).toMatchObject({ status: 200, body: 'blog1', certCn: 'blog.test', alpn: 'h2' });
    const www = await http2Get({ port, host: 'www.shop.test', path: '/echo', ca: ca.cert });
    expect(www.certCn).toBe('shop.test');
    // The upstream is spoken to in HTTP/1.1 with a Host, and told the client came by https.
    expect(JSON.parse(www.body)).toMatchObject({ id: 'shop1', method: 'GET', path: '/echo', headers: { host: 'www.shop.test', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'www.shop.test' } });
    // An HTTP/2 client that also sends a Host: the same name is served with one Host upstream; another name is refused, not routed by either.
    const both2 = await http2Get({ port, host: 'www.shop.test', path: '/echo', ca: ca.cert, hostHeader: 'WWW.shop.test' });
    expect(both2.status).toBe(200);
    expect(JSON.parse(both2.body)).toMatchObject({ id: 'shop1', headers: { host: 'www.shop.test' } });
    const clash = await http2Get({ port, host: 'www.shop.test', path: '/echo', ca: ca.cert, hostHeader: 'blog.test' });
    expect(clash.status).toBe(400);
    expect(JSON.parse(clash.body)).toMatchObject({ error: 'bad_request' });
  });

  it('refuses an HTTP/2 CONNECT with the answer HTTP/1.1 gets: 405, Allow and a body saying it opens no tunnels, counted', async () => {
    await push(both());
    const refused = async () => (await router.getStats()).listeners[`127.0.0.1:${port}`]?.refused?.bad_request ?? 0;
    const before = await refused();
    const h2 = await http2Connect({ port, authority: 'shop.test:443', servername: 'shop.test', ca: ca.cert });
    expect(h2.headers[':status']).toBe(405);
    expect(h2.headers.allow).toBe('GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
    expect(h2.headers['content-type']).toBe('application/json');
    expect(JSON.parse(h2.body)).toMatchObject({ error: 'method_not_allowed', method: 'CONNECT' });
    expect(h2.body).toContain('does not proxy CONNECT');
    // The same answer as an HTTP/1.1 CONNECT on the same TLS listener.
    const h1 = await https1Connect({ port, authority: 'shop.test:443', servername: 'shop.test', ca: ca.cert });
    expect(h1.head).toMatch(/^HTTP\/1\.1 405 /);
    expect(h1.head).toContain('\r\nallow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n');
    expect(h1.body).toBe(h2.body);
    expect((await refused()) - before).toBe(2);
  });

  it('gives a client with an unknown SNI name, or none, the default certificate (the first environment\'s), which its name does not match', async () => {
    await push(both());
    expect((await peerCertificate({ port, servername: 'nobody.test' })).subject.CN).toBe('shop.test');
    expect((await peerCertificate({ port })).subject.CN).toBe('shop.test');
    // A verifying client refuses it cleanly, and a host no environment has is the router's 404 past that.
    await expect(https1Get({ port, host: 'nobody.test', ca: ca.cert })).rejects.toThrow(/altnames|does not match/i);
    const unknown = await https1Get({ port, host: 'nobody.test', servername: 'shop.test', ca: ca.cert });
    expect(unknown.status).toBe(404);
  });

  it('answers plain HTTP with 308 to https, path and query kept, except ACME challenges', async () => {
    const token = 'tok_0123456789abcdefXYZ';
    await push(both({ redirectHttp: true, challenges: { [token]: `${token}.thumbprint` } }));
    const redirectedBefore = await redirectedOn(httpPort);
    const res = await request(`http://127.0.0.1:${httpPort}/cart/items?id=7`, { method: 'POST', body: 'x', headers: { host: 'shop.test' } });
    expect(res.statusCode).toBe(308);
    // Counted on the plain listener, so an operator sees how much still arrives over http://.
    expect((await redirectedOn(httpPort)) - redirectedBefore).toBe(1);
    expect(res.headers.location).toBe(`https://shop.test:${port}/cart/items?id=7`);
    await res.body.dump();
    const challenge = await request(`http://127.0.0.1:${httpPort}/.well-known/acme-challenge/${token}`, { headers: { host: 'shop.test' } });
    expect(challenge.statusCode).toBe(200);
    expect(await challenge.body.text()).toBe(`${token}.thumbprint`);
    // Without redirect_http the plain side serves the environment itself.
    await push(both());
    const plain = await request(`http://127.0.0.1:${httpPort}/`, { headers: { host: 'shop.test' } });
    expect({ status: plain.statusCode, body: await plain.body.text() }).toEqual({ status: 200, body: 'shop1' });
  });

  it('serves plain HTTP that a trusted balancer says came over TLS (PROXY v2 SSL TLV or X-Forwarded-Proto) instead of redirecting it, and redirects the rest', async () => {
    // The balancer is 127.0.0.1; clients it names (and 127.0.0.2 connecting directly) are not trusted.
    const envs = both({ redirectHttp: true });
    await push({ ...envs, shop: { ...envs.shop, proxy: { ...DEFAULT_PROXY_SETTINGS, trustForwarded: ['127.0.0.1'], proxyProtocol: 'v2' } } });
    const echoed = (a: PlainAnswer) => ({ status: a.status, ...(a.status === 200 ? { echo: JSON.parse(a.body) as unknown } : { location: a.location }) });
    const redirected = { status: 308, location: `https://shop.test:${port}/echo` };
    // A balancer that ended the client's TLS (HAProxy send-proxy-v2-ssl): served, without a loop of 308s.
    const endedTls = await plainRequest(httpPort, { host: 'shop.test', path: '/echo', proxyHeader: v2Header([127, 0, 0, 2], SSL_TLV) });
    expect(echoed(endedTls)).toMatchObject({ status: 200, echo: { id: 'shop1', headers: { 'x-forwarded-proto': 'https', 'x-forwarded-for': '127.0.0.2' } } });
    // The same balancer passing on a plain-HTTP client: redirected, also when that client claims https itself.
    expect(echoed(await plainRequest(httpPort, { host: 'shop.test', path: '/echo', proxyHeader: v2Header([127, 0, 0, 2]) }))).toEqual(redirected);
    expect(echoed(await plainRequest(httpPort, { host: 'shop.test', path: '/echo', proxyHeader: v2Header([127, 0, 0, 2]), headers: { 'x-forwarded-proto': 'https' } }))).toEqual(redirected);
    // A trusted proxy that reads HTTP and says https in X-Forwarded-Proto: served, the scheme kept for the app.
    const trusted = await plainRequest(httpPort, { host: 'shop.test', path: '/echo', headers: { 'x-forwarded-proto': 'https' } });
    expect(echoed(trusted)).toMatchObject({ status: 200, echo: { id: 'shop1', headers: { 'x-forwarded-proto': 'https' } } });
    expect(echoed(await plainRequest(httpPort, { host: 'shop.test', path: '/echo', headers: { 'x-forwarded-proto': 'http' } }))).toEqual(redirected);
    // An untrusted peer's X-Forwarded-Proto: https is its own say-so: redirected.
    expect(echoed(await plainRequest(httpPort, { host: 'shop.test', path: '/echo', localAddress: '127.0.0.2', headers: { 'x-forwarded-proto': 'https' } }))).toEqual(redirected);
  });

  it('redirects a WebSocket upgrade and an Expect: 100-continue on the plain side too, and serves them when they came over TLS', async () => {
    const envs = both({ redirectHttp: true });
    const proxy = { ...DEFAULT_PROXY_SETTINGS, trustForwarded: ['127.0.0.1'], proxyProtocol: 'v2' as const };
    const chat = { ...tlsEnv(ws, ['chat.test'], blogCert, { httpListen: `127.0.0.1:${httpPort}`, redirectHttp: true }), proxy };
    await push({ ...envs, shop: { ...envs.shop, proxy }, chat });
    const upgrade = Buffer.from('GET /chat HTTP/1.1\r\nHost: chat.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    expect(await rawHead(httpPort, Buffer.concat([v2Header([127, 0, 0, 2], SSL_TLV), upgrade]))).toMatch(/^HTTP\/1\.1 101 /);
    expect(await rawHead(httpPort, Buffer.concat([v2Header([127, 0, 0, 2]), upgrade]))).toMatch(new RegExp(`^HTTP/1\\.1 308 [^]*\r\nlocation: https://chat\\.test:${port}/chat\r\n`, 'i'));
    const expectContinue = Buffer.from('POST /echo HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n');
    expect(await rawHead(httpPort, Buffer.concat([v2Header([127, 0, 0, 2], SSL_TLV), expectContinue]))).toMatch(/^HTTP\/1\.1 100 /);
    expect(await rawHead(httpPort, Buffer.concat([v2Header([127, 0, 0, 2]), expectContinue]))).toMatch(new RegExp(`^HTTP/1\\.1 308 [^]*\r\nlocation: https://shop\\.test:${port}/echo\r\n`, 'i'));
  });

  it('redirects to the port the TLS listener bound when listen asks for port 0, and answers 503 while it has none', async () => {
    const edgeHttp = await freePort();
    const edge = { ...tlsEnv(shop, ['shop.test'], shopCert, { httpListen: `127.0.0.1:${edgeHttp}`, redirectHttp: true }), listen: '127.0.0.1:0' };
    const answer = await push({ edge });
    const bound = Number(/:(\d+)$/.exec(answer.listeners.edge?.address ?? '')?.[1]);
    expect(bound).toBeGreaterThan(0);
    const res = await plainRequest(edgeHttp, { host: 'shop.test', path: '/cart?id=7' });
    expect({ status: res.status, location: res.location }).toEqual({ status: 308, location: `https://shop.test:${bound}/cart?id=7` });
    // The redirect leads somewhere: the environment over https on that port.
    expect(await https1Get({ port: bound, host: 'shop.test', path: '/', ca: ca.cert })).toMatchObject({ status: 200, body: 'shop1' });
    // A TLS listener that cannot bind (192.0.2.1 is on no interface here) has no port to name.
    const unbound = await push({ edge: { ...edge, listen: '192.0.2.1:0' } });
    expect(unbound.listeners.edge).toMatchObject({ listening: false });
    const waiting = await plainRequest(edgeHttp, { host: 'shop.test', path: '/cart' });
    expect(waiting.status).toBe(503);
    expect(waiting.location).toBeUndefined();
    expect(JSON.parse(waiting.body)).toMatchObject({ error: 'https_not_listening', listen: '192.0.2.1:0' });
  });

  it('passes a WebSocket upgrade over HTTP/1.1 TLS through to the backend', async () => {
    await push(both());
    const reply = await new Promise<{ head: string; frame: string }>((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'chat.test', ca: ca.cert, ALPNProtocols: ['http/1.1'] }, () => {
        socket.write('GET /chat HTTP/1.1\r\nHost: chat.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
      });
      let buffer = Buffer.alloc(0);
      let head: string | null = null;
      socket.on('error', reject);
      socket.setTimeout(5_000, () => reject(new Error('no answer')));
      socket.on('data', (chunk: Buffer) => {
        buffer = Buffer.concat([buffer, chunk]);
        if (head === null) {
          const end = buffer.indexOf('\r\n\r\n');
          if (end < 0) return;
          head = buffer.subarray(0, end).toString('latin1');
          buffer = buffer.subarray(end + 4);
          const payload = Buffer.from('hello over tls');
          const mask = Buffer.from([1, 2, 3, 4]);
          socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!))]));
        }
        if (buffer.length >= 2 && buffer.length >= 2 + (buffer[1]! & 0x7f)) {
          socket.destroy();
          resolve({ head: head!, frame: buffer.subarray(2, 2 + (buffer[1]! & 0x7f)).toString() });
        }
      });
    });
    expect(reply.head).toMatch(/^HTTP\/1\.1 101/);
    expect(reply.frame).toBe('hello over tls');
  });

  it('swaps a certificate under keep-alive load without failing a request, and new handshakes get the new one', async () => {
    await push(both());
    const renewed = makeTestCertificate(ca, 'shop-renewed', ['shop.test', 'www.shop.test'], 30);
    const agent = new HttpsAgent({ keepAlive: true, maxSockets: 8 });
    let ok = 0;
    let failed = 0;
    let stop = false;
    const worker = async (fresh: boolean) => {
      while (!stop) {
        try {
          const r = await https1Get({ port, host: 'shop.test', ca: ca.cert, ...(fresh ? {} : { agent }) });
          if (r.status === 200) ok++;
          else failed++;
        } catch {
          failed++;
        }
      }
    };
    const workers = [...Array.from({ length: 6 }, () => worker(false)), worker(true), worker(true)];
    await new Promise((r) => setTimeout(r, 500));
    await push(both({ certificates: [{ cert: renewed.cert, key: renewed.key }] }));
    await new Promise((r) => setTimeout(r, 500));
    stop = true;
    await Promise.all(workers);
    agent.destroy();
    expect(failed).toBe(0);
    expect(ok).toBeGreaterThan(30);
    const serial = (await peerCertificate({ port, servername: 'shop.test' })).serialNumber;
    expect(serial.toUpperCase()).toBe(new X509Certificate(renewed.cert).serialNumber.toUpperCase());
  });

  it('answers ACME TLS-ALPN-01: a handshake offering acme-tls/1 for a name with a challenge gets its challenge certificate, every other one the real certificate', async () => {
    const keyAuthorization = 'tok_0123456789abcdefXYZ.thumbprint';
    const [key, cert] = await acme.crypto.createAlpnCertificate({ identifier: { type: 'dns', value: 'www.shop.test' } } as never, keyAuthorization, await acme.crypto.createPrivateEcdsaKey());
    await push(both({ alpnChallenges: { 'www.shop.test': { cert: cert.toString(), key: key.toString() } } }));
    const challenge = await alpnHandshake({ port, servername: 'www.shop.test', alpn: ['acme-tls/1'] });
    expect(challenge.alpn).toBe('acme-tls/1');
    expect(acme.crypto.isAlpnCertificateAuthorizationValid(challenge.certPem, keyAuthorization)).toBe(true);
    // The same name without acme-tls/1, and acme-tls/1 for a name with no challenge, get the real certificates.
    const normal = await alpnHandshake({ port, servername: 'www.shop.test', alpn: ['h2', 'http/1.1'] });
    expect(normal.alpn).toBe('h2');
    expect(normal.certPem).toBe(new X509Certificate(shopCert.cert).toString());
    expect((await https1Get({ port, host: 'www.shop.test', ca: ca.cert })).status).toBe(200);
    const other = await alpnHandshake({ port, servername: 'blog.test', alpn: ['acme-tls/1', 'http/1.1'] });
    expect(other.alpn).toBe('http/1.1');
    expect(other.certPem).toBe(new X509Certificate(blogCert.cert).toString());
    // The challenge's key is a private key like the others: sealed on disk, a fingerprint over the admin API.
    expect(readFileSync(join(stateDir, 'routes.json'), 'utf8')).not.toContain('PRIVATE KEY');
    expect(JSON.stringify(await router.getRoutes())).not.toContain('PRIVATE KEY');
    // Withdrawn with the next table: acme-tls/1 is then refused (no protocol in common), the rest unchanged.
    await push(both());
    await expect(alpnHandshake({ port, servername: 'www.shop.test', alpn: ['acme-tls/1'] })).rejects.toThrow(/no.application.protocol/i);
    expect((await http2Get({ port, host: 'www.shop.test', ca: ca.cert })).status).toBe(200);
  });

  it('keeps private keys out of routes.json and out of GET /routes, and reports a key that does not match its certificate', async () => {
    await push(both());
    const saved = readFileSync(join(stateDir, 'routes.json'), 'utf8');
    expect(saved).toContain('BEGIN CERTIFICATE');
    expect(saved).not.toContain('PRIVATE KEY');
    expect(saved).toContain('sealed:v1:');
    const answered = JSON.stringify(await router.getRoutes());
    expect(answered).not.toContain('PRIVATE KEY');
    expect(answered).toContain('redacted:sha256:');
    // Blog's certificate with shop's key: blog's certificate is refused and named, shop's still serves.
    const answer = await push({ ...both(), blog: tlsEnv(blog, ['blog.test'], { ...blogCert, key: shopCert.key }) });
    expect(answer.listeners.blog?.tls?.errors?.[0]).toMatch(/blog\.test.*cannot be served with its key/);
    expect(JSON.stringify(answer)).not.toContain('PRIVATE KEY');
    expect((await https1Get({ port, host: 'shop.test', ca: ca.cert })).status).toBe(200);
  });
});
