// Requests that ask to switch protocols (`Connection: Upgrade`, WebSockets above
// all): the backend is picked at connect time by the same weights and stickiness as
// any request, the request goes to it with its Upgrade header, and on a 101 the two
// sockets are joined (tunnel.ts). Any other answer (a 404, a 426) is passed back as
// a plain response and the connection closed.
//
// Node hands these over as a raw socket ('upgrade' event), not a ServerResponse, so
// the answers here are written as bytes. Less traffic than the hot path, so plainer.

import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { EnvRoute } from './env-route.ts';
import { collectForwardHeaders, isHopByHopResponseHeader } from './forward-headers.ts';
import type { HeaderWaiter } from './passive-health.ts';
import { pickUpstream } from './pick-upstream.ts';
import type { EnvProxy } from './proxy-settings.ts';
import { CLIENT_GONE, RETRYABLE_CODES } from './proxy.ts';
import { badGatewayAnswer, NO_BACKEND, UPGRADE_WITH_BODY, writeRawAnswer } from './router-answers.ts';
import { Tunnel } from './tunnel.ts';
import type { Upstream } from './upstream.ts';
import { upstreamFailureOf } from './upstream-failure.ts';

/** An upgrade request the listener routed to this environment, as handleProxyRequest. */
export function handleProxyUpgrade(route: EnvRoute, req: IncomingMessage, socket: Socket, head: Buffer, strippedPrefix: string | null = null): void {
  const startMs = performance.now();
  const headers: string[] = [];
  // The request goes without a body (the bytes after its head are the new protocol's),
  // so one that declares a body is refused: forwarded, the body would be lost.
  if (collectForwardHeaders(req, headers, route.proxy.isTrusted, strippedPrefix) !== 0) {
    route.counters.refused.bad_request++;
    writeRawAnswer(socket, UPGRADE_WITH_BODY);
    return;
  }
  const upstream = pickUpstream(route, req);
  if (upstream === null) {
    route.counters.unrouted++;
    writeRawAnswer(socket, NO_BACKEND);
    return;
  }
  new UpgradeExchange({ route, req, socket, head, upstream, startMs, headers }).dispatch();
}

/** Whether the request asks for HTTP/2 over cleartext (`Upgrade: h2c`, alone or in a list). */
function isH2c(req: IncomingMessage): boolean {
  const upgrade = req.headers.upgrade;
  return upgrade !== undefined && upgrade.split(',').some((p) => p.trim().toLowerCase() === 'h2c');
}

interface UpgradeInit {
  route: EnvRoute;
  req: IncomingMessage;
  socket: Socket;
  /** Bytes the client sent after the request head (its first frames, if it did not wait). */
  head: Buffer;
  upstream: Upstream;
  startMs: number;
  headers: string[];
}

class UpgradeExchange implements Dispatcher.DispatchHandler, HeaderWaiter {
  private readonly route: EnvRoute;
  private readonly proxy: EnvProxy;
  private readonly req: IncomingMessage;
  private readonly socket: Socket;
  private readonly head: Buffer;
  private readonly startMs: number;
  private readonly headers: string[];
  private upstream: Upstream;
  sentAtMs = 0;
  private statusCode = 0;
  private hasRetried = false;
  private hasResponded = false;
  private isDone = false;
  private abort: ((err?: Error) => void) | null = null;

  constructor(o: UpgradeInit) {
    this.route = o.route;
    this.proxy = o.route.proxy;
    this.req = o.req;
    this.socket = o.socket;
    this.head = o.head;
    this.startMs = o.startMs;
    this.headers = o.headers;
    this.upstream = o.upstream;
    // Node stopped watching this socket when it handed it over; until the tunnel
    // takes it, errors and an early close are ours to handle.
    o.socket.on('error', () => {});
    o.socket.once('close', () => {
      if (!this.isDone) this.abort?.(CLIENT_GONE);
    });
  }

  dispatch(): void {
    const u = this.upstream;
    u.begin();
    this.abort = null;
    this.sentAtMs = performance.now();
    this.route.health.sent(u, this);
    u.pool.dispatch(
      {
        path: this.req.url!,
        method: this.req.method as Dispatcher.HttpMethod,
        headers: this.headers,
        body: null,
        // h2c is served as the HTTP/1.1 request it also is (RFC 9110 §7.8 lets a server
        // ignore Upgrade): a tunnel would carry HTTP/2 requests whose X-Forwarded-* and
        // routing the router never sees. Its answer goes back as any non-101 one.
        upgrade: isH2c(this.req) ? null : (this.req.headers.upgrade ?? 'websocket'),
        headersTimeout: this.proxy.responseTimeoutMs,
        bodyTimeout: this.proxy.idleTimeoutMs,
      },
      this,
    );
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
    if (this.socket.destroyed) abort(CLIENT_GONE);
  }

  onUpgrade(statusCode: number, rawHeaders: Buffer[] | string[] | null, backend: Duplex): void {
    this.isDone = true;
    this.hasResponded = true;
    const u = this.upstream;
    this.route.health.answered(u, this, performance.now());
    const client = this.socket;
    if (client.destroyed || !client.writable) {
      backend.destroy();
      u.end();
      return;
    }
    let head = `HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode] ?? ''}\r\n`;
    const raw = rawHeaders ?? [];
    for (let i = 0; i < raw.length; i += 2) head += `${raw[i]!.toString()}: ${raw[i + 1]!.toString()}\r\n`;
    client.write(head + '\r\n', 'latin1');
    if (this.head.length > 0) backend.write(this.head);
    client.setNoDelay(true);
    // Counted as upgraded before it stops counting as a request, so a drain never sees it at 0.
    new Tunnel(client, backend, u, this.proxy.idleTimeoutMs);
    u.end();
  }

  /** The backend answered without switching protocols: pass its answer on, then close. */
  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true;
    this.route.health.answered(this.upstream, this, performance.now());
    this.hasResponded = true;
    this.statusCode = statusCode;
    let head = `HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode] ?? ''}\r\n`;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toString('latin1');
      if (!isHopByHopResponseHeader(name)) head += `${name}: ${rawHeaders[i + 1]!.toString('latin1')}\r\n`;
    }
    // Without Content-Length the body runs to the close (the chunked framing was undone by undici).
    return this.write(Buffer.from(head + 'connection: close\r\n\r\n', 'latin1'), resume);
  }

  onData(chunk: Buffer): boolean {
    return this.write(chunk, null);
  }

  private write(chunk: Buffer, resume: (() => void) | null): boolean {
    if (this.socket.destroyed) {
      this.abort?.(CLIENT_GONE);
      return false;
    }
    if (this.socket.write(chunk)) return true;
    this.socket.once('drain', resume ?? (() => {}));
    return false;
  }

  onComplete(): void {
    this.isDone = true;
    this.upstream.end();
    this.socket.end();
    this.upstream.counters.record(this.statusCode, performance.now() - this.startMs);
  }

  /** An upgrade waits for its own answer: it is not re-sent when its backend stalls. */
  onBackendStalled(): void {}

  onError(err: Error): void {
    this.isDone = true;
    const failed = this.upstream;
    failed.end();
    const code = (err as { code?: string }).code ?? '';
    const isClientGone = err === CLIENT_GONE || this.socket.destroyed;
    if (this.hasResponded) {
      if (!isClientGone) failed.counters.upstreamErrors++;
      this.socket.destroy();
      failed.counters.record(this.statusCode, performance.now() - this.startMs);
      return;
    }
    this.route.health.settled(failed, this, isClientGone ? null : code || 'error', performance.now());
    if (isClientGone) return;
    const failure = upstreamFailureOf(err);
    // An upgrade is a GET with no body: safe to send once more elsewhere, unless its
    // backend answered nonsense (proxy.ts): then it has had the request.
    if (failure !== 'invalid' && RETRYABLE_CODES.has(code) && !this.hasRetried) {
      const other = this.route.picker.pickOther(failed, failed.release);
      if (other !== null) {
        failed.counters.retries++;
        this.hasRetried = true;
        this.isDone = false;
        this.upstream = other;
        this.dispatch();
        return;
      }
    }
    const timedOut = code === 'UND_ERR_HEADERS_TIMEOUT';
    if (timedOut) failed.counters.timeouts++;
    else failed.counters.upstreamErrors++;
    const answer = timedOut ? this.proxy.gatewayTimeout : badGatewayAnswer(failure, this.hasRetried);
    this.statusCode = answer.status;
    writeRawAnswer(this.socket, answer);
    failed.counters.record(this.statusCode, performance.now() - this.startMs);
  }
}
