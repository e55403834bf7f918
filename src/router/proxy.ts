// The hot path: one client request through to one backend and back.
//
// Each request gets one ProxyExchange, which is also the undici dispatch handler, so
// the per-request cost is that object, its header array and the dispatch options;
// no closures, no promise, no intermediate stream. It uses undici's raw handler
// methods (onConnect/onHeaders/onData/onComplete/onError): they get the raw header
// buffers directly, where the newer onResponseStart API parses them into an object
// first. Measured in bench/router-bench.ts.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { HeaderWaiter, PassiveHealth } from './passive-health.ts';
import type { StickyRoutes } from './route-table.ts';
import type { EnvCounters } from './router-stats.ts';
import type { Upstream } from './upstream.ts';
import type { WeightedPicker } from './weighted-picker.ts';

/** What the proxy needs of an environment; `picker` and `sticky` are swapped whole when a table applies. */
export interface EnvRoute {
  readonly name: string;
  picker: WeightedPicker<Upstream>;
  sticky: StickyRoutes | null;
  readonly counters: EnvCounters;
  /** Told of every request's header or failure; ejects backends the traffic shows broken. */
  readonly health: PassiveHealth;
}

const TRACK_HEADER = 'x-slipway-track';
const TRACK_COOKIE = 'slipway-track';

/** The value of one cookie in a Cookie header, without parsing the rest. */
function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** FNV-1a of a string into [0, 100): a user's stable place on the canary's scale. */
export function stickyBucket(value: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < value.length; i++) {
    h ^= value.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return ((h >>> 0) % 10_000) / 100;
}

/**
 * The backend a canary rollout owes this request: the side it asked for, else the
 * side its user's hash falls on (below the canary's share: canary), else by weight.
 */
function pickSticky(route: EnvRoute, sticky: StickyRoutes, req: IncomingMessage): Upstream | null {
  const cookies = req.headers.cookie;
  const track = req.headers[TRACK_HEADER] ?? cookieValue(cookies, TRACK_COOKIE);
  if (track === 'canary' || track === 'stable') {
    const forced = route.picker.pickRelease(track === 'canary' ? sticky.canary : sticky.stable);
    if (forced !== null) return forced;
  }
  const header = sticky.header ? req.headers[sticky.header] : undefined;
  const key = typeof header === 'string' ? header : sticky.cookie ? cookieValue(cookies, sticky.cookie) : undefined;
  if (key !== undefined && key !== '') {
    const side = stickyBucket(key) < route.picker.shareOf(sticky.canary) ? sticky.canary : sticky.stable;
    const chosen = route.picker.pickRelease(side);
    if (chosen !== null) return chosen;
  }
  return route.picker.pick();
}

/**
 * Connection failures with no response header yet: the instance died, refused, or
 * closed a reused keep-alive socket just as the request went out. Sending such a
 * request once more elsewhere is what makes deploys lose nothing. A request that is
 * not idempotent (POST, PATCH, ...) goes again only when the failure proves the
 * backend never got it (NEVER_SENT_CODES): one received just before its instance
 * died must not reach a second one (a double charge, a double order).
 */
const RETRYABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** The connection was never made, so the backend cannot have seen the request. */
const NEVER_SENT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/** Methods a second delivery cannot harm (RFC 9110, 9.2.2). */
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

const CLIENT_GONE = Object.assign(new Error('the client closed the connection'), { code: 'E_CLIENT_GONE' });
/** Passive health ejected the backend while this (idempotent) request waited on it: it goes to another one. */
const BACKEND_STALLED = Object.assign(new Error('the backend stalled; request re-sent elsewhere'), { code: 'E_BACKEND_STALLED' });

function jsonAnswer(status: number, error: string, message: string): { status: number; headers: string[]; body: Buffer } {
  const body = Buffer.from(JSON.stringify({ error, message }) + '\n');
  return {
    status,
    headers: ['content-type', 'application/json', 'content-length', String(body.length), 'cache-control', 'no-store'],
    body,
  };
}

const NO_BACKEND = jsonAnswer(503, 'no_backend', 'no ready backend for this environment; deploy a release or raise its weight');
const BAD_GATEWAY = jsonAnswer(502, 'upstream_unreachable', 'the backend could not be reached, also after a retry on another backend');
const GATEWAY_TIMEOUT = jsonAnswer(504, 'upstream_timeout', 'the backend sent no response header in time');

/** The node http 'request' listener of an environment's listener. */
export function handleProxyRequest(route: EnvRoute, req: IncomingMessage, res: ServerResponse): void {
  const startMs = performance.now();
  const upstream = route.sticky === null ? route.picker.pick() : pickSticky(route, route.sticky, req);
  if (upstream === null) {
    route.counters.unrouted++;
    sendAnswer(res, NO_BACKEND);
    return;
  }
  new ProxyExchange(route, req, res, upstream, startMs).dispatch();
}

function sendAnswer(res: ServerResponse, a: { status: number; headers: string[]; body: Buffer }): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  res.writeHead(a.status, a.headers);
  res.end(a.body);
}

class ProxyExchange implements Dispatcher.DispatchHandler, HeaderWaiter {
  private readonly route: EnvRoute;
  private readonly req: IncomingMessage;
  private readonly res: ServerResponse;
  private readonly startMs: number;
  private upstream: Upstream;
  private readonly headers: string[];
  private readonly hasBody: boolean;
  private hasRetried = false;
  private hasResponded = false;
  /** When the current dispatch went out (performance.now()); passive health measures stalls from it. */
  sentAtMs = 0;
  /** Where a stalled request goes instead, chosen before its dispatch is aborted. */
  private stallTarget: Upstream | null = null;
  private statusCode = 0;
  /** Response body bytes still to come when the backend sent Content-Length, else -1. */
  private bodyLeft = -1;
  private hasEnded = false;
  private isDone = false;
  private isWatchingClose = false;
  private resume: (() => void) | null = null;
  private abort: ((err?: Error) => void) | null = null;

  constructor(route: EnvRoute, req: IncomingMessage, res: ServerResponse, upstream: Upstream, startMs: number) {
    this.route = route;
    this.req = req;
    this.res = res;
    this.upstream = upstream;
    this.startMs = startMs;
    this.headers = [];
    this.hasBody = collectForwardHeaders(req, this.headers);
  }

  dispatch(): void {
    const u = this.upstream;
    u.begin();
    this.abort = null;
    this.sentAtMs = performance.now();
    this.route.health.sent(u, this);
    const req = this.req;
    u.pool.dispatch(
      { path: req.url!, method: req.method as Dispatcher.HttpMethod, headers: this.headers, body: this.hasBody ? req : null },
      this,
    );
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 1xx informational: the final answer follows
    this.route.health.answered(this.upstream, this, performance.now());
    this.statusCode = statusCode;
    this.resume = resume;
    if (this.res.destroyed) {
      this.hasResponded = true;
      this.abort?.(CLIENT_GONE);
      return false;
    }
    this.res.writeHead(statusCode, this.responseHeaders(rawHeaders));
    this.hasResponded = true;
    return true;
  }

  onData(chunk: Buffer): boolean {
    const res = this.res;
    if (res.destroyed) {
      this.abort?.(CLIENT_GONE);
      return false;
    }
    if (this.bodyLeft === chunk.length) {
      // The last bytes: end(chunk) sends them with no extra tick, usually as one writev with the head.
      this.bodyLeft = 0;
      this.hasEnded = true;
      res.end(chunk);
      return true;
    }
    if (this.bodyLeft > 0) this.bodyLeft -= chunk.length;
    if (res.write(chunk)) return true;
    // Backpressure: undici stops reading the backend socket until the client drains.
    res.once('drain', this.resume!);
    this.watchClientClose();
    return false;
  }

  /**
   * A client that leaves while the backend is paused for backpressure would never
   * drain: free the backend connection (and its inflight count) at once instead.
   * Only on this rare path, to keep the common one free of listeners.
   */
  private watchClientClose(): void {
    if (this.isWatchingClose) return;
    this.isWatchingClose = true;
    this.res.once('close', () => {
      if (!this.isDone) this.abort?.(CLIENT_GONE);
    });
  }

  onComplete(): void {
    this.isDone = true;
    this.upstream.end();
    if (!this.hasEnded) this.res.end();
    this.record();
  }

  /**
   * Its backend was ejected for a stall while this request waited for a header. Only
   * a request that may be delivered twice goes elsewhere (once, body unread); any
   * other waits for its own timeout, since the stalled backend may still answer it.
   */
  onBackendStalled(): void {
    if (this.hasResponded || this.hasRetried || this.abort === null) return;
    if (!IDEMPOTENT_METHODS.has(this.req.method ?? '') || !this.canRetry()) return;
    const other = this.route.picker.pickOther(this.upstream, this.upstream.release);
    if (other === null || other === this.upstream) return;
    this.stallTarget = other;
    this.abort(BACKEND_STALLED);
  }

  onError(err: Error): void {
    this.isDone = true;
    const failed = this.upstream;
    failed.end();
    if (err === BACKEND_STALLED && this.stallTarget !== null && !this.hasResponded) {
      this.route.health.settled(failed, this, null, performance.now());
      failed.counters.retries++;
      this.hasRetried = true;
      this.upstream = this.stallTarget;
      this.stallTarget = null;
      this.dispatch();
      return;
    }
    if (!this.hasResponded) {
      const blame = err === CLIENT_GONE || this.res.destroyed ? null : ((err as { code?: string }).code ?? 'error');
      this.route.health.settled(failed, this, blame, performance.now());
    }
    if (this.hasResponded) {
      // Cut mid-body by the backend, or a client that left: the only honest signal
      // left is a cut connection (the status line has gone out already).
      if (err !== CLIENT_GONE && !this.res.destroyed) failed.counters.upstreamErrors++;
      if (!this.hasEnded) this.res.destroy();
      this.record();
      return;
    }
    const code = (err as { code?: string }).code ?? '';
    if (RETRYABLE_CODES.has(code) && (NEVER_SENT_CODES.has(code) || IDEMPOTENT_METHODS.has(this.req.method ?? '')) && this.canRetry()) {
      const other = this.route.picker.pickOther(failed, failed.release);
      if (other !== null) {
        failed.counters.retries++;
        this.hasRetried = true;
        this.upstream = other;
        this.dispatch();
        return;
      }
    }
    if (code === 'UND_ERR_HEADERS_TIMEOUT') {
      failed.counters.timeouts++;
      this.answer(GATEWAY_TIMEOUT);
    } else {
      failed.counters.upstreamErrors++;
      this.answer(BAD_GATEWAY);
    }
  }

  /** The backend's headers for the client, less hop-by-hop ones (node adds its own framing); notes Content-Length. */
  private responseHeaders(raw: Buffer[]): string[] {
    const out: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toString('latin1');
      if (isHopByHopResponseHeader(name)) continue;
      const value = raw[i + 1]!.toString('latin1');
      if (name.length === 14 && name.toLowerCase() === 'content-length') this.bodyLeft = Number(value);
      out.push(name, value);
    }
    return out;
  }

  /** Once only, and only if the request body (if any) was not read yet: it cannot be sent twice. */
  private canRetry(): boolean {
    return !this.hasRetried && !this.res.destroyed && (!this.hasBody || !this.req.readableDidRead);
  }

  private answer(a: { status: number; headers: string[]; body: Buffer }): void {
    this.statusCode = a.status;
    sendAnswer(this.res, a);
    this.record();
  }

  private record(): void {
    this.upstream.counters.record(this.statusCode, performance.now() - this.startMs);
  }
}

/**
 * Copies the client's headers into `out` as a flat [name, value, ...] list, less the
 * hop-by-hop ones, plus X-Forwarded-*. Returns whether the request has a body.
 */
function collectForwardHeaders(req: IncomingMessage, out: string[]): boolean {
  const raw = req.rawHeaders;
  let hasBody = false;
  let host = '';
  let forwardedFor = '';
  let connection = '';
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    switch (name.toLowerCase()) {
      case 'host':
        host = value;
        break;
      case 'content-length':
        hasBody = value !== '0';
        break;
      case 'transfer-encoding':
        hasBody = true;
        continue;
      case 'x-forwarded-for':
        forwardedFor = forwardedFor === '' ? value : `${forwardedFor}, ${value}`;
        continue;
      case 'connection':
        connection = value;
        continue;
      // node answers `Expect: 100-continue` itself; undici refuses to send it.
      case 'expect':
      case 'keep-alive':
      case 'te':
      case 'trailer':
      case 'upgrade':
      case 'x-forwarded-proto':
      case 'x-forwarded-host':
        continue;
      default:
        if (name.length > 6 && isProxyHeader(name)) continue;
    }
    out.push(name, value);
  }
  if (connection !== '') dropConnectionListed(out, connection);
  const client = req.socket.remoteAddress ?? '';
  out.push('x-forwarded-for', forwardedFor === '' ? client : `${forwardedFor}, ${client}`, 'x-forwarded-proto', 'http');
  if (host !== '') out.push('x-forwarded-host', host);
  return hasBody;
}

function isProxyHeader(name: string): boolean {
  const c = name.charCodeAt(0);
  return (c === 112 || c === 80) && name.slice(0, 6).toLowerCase() === 'proxy-'; // 'p' | 'P'
}

/** Headers named in `Connection: a, b` are hop-by-hop too (RFC 9110 §7.6.1). */
function dropConnectionListed(out: string[], connection: string): void {
  const names = new Set(
    connection
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter((t) => t !== '' && t !== 'close' && t !== 'keep-alive'),
  );
  if (names.size === 0) return;
  for (let i = out.length - 2; i >= 0; i -= 2) {
    if (names.has(out[i]!.toLowerCase())) out.splice(i, 2);
  }
}

function isHopByHopResponseHeader(name: string): boolean {
  const len = name.length;
  if (len === 7 || len === 10 || len === 17) {
    const n = name.toLowerCase();
    if (n === 'connection' || n === 'keep-alive' || n === 'transfer-encoding' || n === 'trailer' || n === 'upgrade') return true;
  }
  return len > 6 && isProxyHeader(name);
}
