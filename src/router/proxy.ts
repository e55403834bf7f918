// The hot path: one client request through to one backend and back.
//
// Each request gets one ProxyExchange, which is also the undici dispatch handler, so
// the per-request cost is that object, its header array and the dispatch options;
// no closures, no promise, no intermediate stream. It uses undici's raw handler
// methods (onConnect/onHeaders/onData/onComplete/onError): they get the raw header
// buffers directly, where the newer onResponseStart API parses them into an object
// first. Measured in bench/router-bench.ts. Only a request with a body pays for
// more: its idle timer, and a stream between it and undici that counts its bytes
// (a chunked body's size is known only as it streams) and keeps undici from
// destroying the client's request, so a 413 or 408 can still be answered on it.
//
// The environment's proxy settings (proxy-settings.ts) give the limits: time to
// response headers and body idle time go to undici with each request; the body
// size is checked here. Upgrade requests (WebSockets) go through upgrade-proxy.ts.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { EnvRoute } from './env-route.ts';
import { collectForwardHeaders, isHopByHopResponseHeader } from './forward-headers.ts';
import type { HeaderWaiter } from './passive-health.ts';
import { pickUpstream } from './pick-upstream.ts';
import type { EnvProxy } from './proxy-settings.ts';
import { badGatewayAnswer, NO_BACKEND, type RouterAnswer } from './router-answers.ts';
import { upstreamFailureOf } from './upstream-failure.ts';
import type { Upstream } from './upstream.ts';
import type { ShadowTap } from './shadow/shadow-mirror.ts';

/**
 * Connection failures with no response header yet: the instance died, refused, or
 * closed a reused keep-alive socket just as the request went out. Sending such a
 * request once more elsewhere is what makes deploys lose nothing. A request that is
 * not idempotent (POST, PATCH, ...) goes again only when the failure proves the
 * backend never got it (NEVER_SENT_CODES): one received just before its instance
 * died must not reach a second one (a double charge, a double order).
 */
export const RETRYABLE_CODES = new Set([
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
export const NEVER_SENT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/** Methods a second delivery cannot harm (RFC 9110, 9.2.2). */
export const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export const CLIENT_GONE = Object.assign(new Error('the client closed the connection'), { code: 'E_CLIENT_GONE' });
/** Passive health ejected the backend while this (idempotent) request waited on it: it goes to another one. */
const BACKEND_STALLED = Object.assign(new Error('the backend stalled; request re-sent elsewhere'), { code: 'E_BACKEND_STALLED' });
/** A chunked request body grew past proxy.max_body while it streamed. */
const BODY_TOO_LARGE = Object.assign(new Error('the request body is over proxy.max_body'), { code: 'E_BODY_TOO_LARGE' });
/** The client stopped sending its request body for proxy.idle_timeout. */
const BODY_IDLE = Object.assign(new Error('the request body sent nothing for proxy.idle_timeout'), { code: 'E_BODY_IDLE' });
/** The backend's answer has a transfer coding besides chunked (hasCodingBesidesChunked). */
const UNFORWARDABLE_CODING = Object.assign(new Error('the backend answered with a transfer coding besides chunked, which the router cannot pass on'), { code: 'E_RESPONSE_CODING' });

const EVENT_STREAM = 'text/event-stream';

/**
 * A request the listener routed to this environment (address-listener.ts).
 * `strippedPrefix`: the path prefix already taken off `req.url`, for X-Forwarded-Prefix.
 */
export function handleProxyRequest(route: EnvRoute, req: IncomingMessage, res: ServerResponse, strippedPrefix: string | null = null): void {
  const startMs = performance.now();
  const proxy = route.proxy;
  const headers: string[] = [];
  const bodyBytes = collectForwardHeaders(req, headers, proxy.isTrusted, strippedPrefix);
  if (bodyBytes > proxy.maxBodyBytes) {
    route.counters.refused.max_body++;
    answerThenLinger(req, res, proxy.bodyTooLarge);
    return;
  }
  const upstream = pickUpstream(route, req);
  if (upstream === null) {
    route.counters.unrouted++;
    sendAnswer(res, NO_BACKEND);
    return;
  }
  // Shadow traffic (shadow/shadow-mirror.ts): null unless a shadow step copies this request.
  const tap = route.shadow ? route.shadow.tap(req, upstream, headers, bodyBytes) : null;
  new ProxyExchange({ route, req, res, upstream, startMs, headers, bodyBytes, tap }).dispatch();
  // Replay recording (shadow/replay-recorder.ts): after dispatch, so a body it reads is already piped upstream.
  route.recorder?.offer(req, bodyBytes);
}

/**
 * The 'checkContinue' listener: a client that sent `Expect: 100-continue` waits to
 * send its body, so one over max_body is refused before a byte of it crosses.
 */
export function handleExpectContinue(route: EnvRoute, req: IncomingMessage, res: ServerResponse, strippedPrefix: string | null = null): void {
  if (Number(req.headers['content-length'] ?? 0) > route.proxy.maxBodyBytes) {
    route.counters.refused.max_body++;
    sendAnswer(res, route.proxy.bodyTooLarge);
    return;
  }
  res.writeContinue();
  handleProxyRequest(route, req, res, strippedPrefix);
}

export function sendAnswer(res: ServerResponse, a: RouterAnswer): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  res.writeHead(a.status, a.headers);
  res.end(a.body);
}

/** How long the rest of a refused body is read and dropped before the connection closes. */
const LINGER_MS = 2000;

/**
 * Answers a request refused while its client may still be sending the body (413):
 * the answer (with Connection: close), then, as nginx's lingering close does, the
 * rest of what the client sends is read and dropped for up to LINGER_MS, so it reads
 * the answer instead of a reset on its next write; then the connection closes.
 */
function answerThenLinger(req: IncomingMessage, res: ServerResponse, a: RouterAnswer): void {
  const socket = req.socket;
  if (res.headersSent || res.destroyed || socket.destroyed) {
    res.destroy();
    return;
  }
  // Node closes a Connection: close response's socket with destroySoon() once it is
  // written; here it ends our side only and keeps reading until the client ends.
  socket.destroySoon = () => {
    socket.end();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    socket.once('end', () => socket.destroy());
    req.resume();
    socket.resume();
  };
  sendAnswer(res, a);
}

/** Counts a request body as it streams, and fails it once past the limit. */
class BodyLimit extends Transform {
  private bytes = 0;

  constructor(private readonly maxBytes: number, private readonly tap: ShadowTap | null) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    this.tap?.onRequestData(chunk);
    if (this.bytes > this.maxBytes) done(BODY_TOO_LARGE);
    else done(null, chunk);
  }
}

interface ExchangeInit {
  route: EnvRoute;
  req: IncomingMessage;
  res: ServerResponse;
  upstream: Upstream;
  startMs: number;
  /** The headers for the backend (collectForwardHeaders). */
  headers: string[];
  /** As collectForwardHeaders returned it: 0 no body, -1 chunked. */
  bodyBytes: number;
  tap: ShadowTap | null;
}

class ProxyExchange implements Dispatcher.DispatchHandler, HeaderWaiter {
  private readonly route: EnvRoute;
  /** The settings this request started with; a table applied meanwhile does not change them. */
  private readonly proxy: EnvProxy;
  private readonly req: IncomingMessage;
  private readonly res: ServerResponse;
  private readonly startMs: number;
  private upstream: Upstream;
  private readonly headers: string[];
  /** What undici reads the request body from; null when there is none. */
  private readonly body: BodyLimit | null;
  private hasRetried = false;
  private hasResponded = false;
  /** When the current dispatch went out (performance.now()); passive health measures stalls from it. */
  sentAtMs = 0;
  /** Where a stalled request goes instead, chosen before its dispatch is aborted. */
  private stallTarget: Upstream | null = null;
  private statusCode = 0;
  /** Response body bytes still to come when the backend sent Content-Length, else -1. */
  private bodyLeft = -1;
  /** A 2xx text/event-stream answer: counted as a stream, not in requests and latency. */
  private isStream = false;
  private hasEnded = false;
  private isDone = false;
  private isWatchingClose = false;
  private resume: (() => void) | null = null;
  private abort: ((err?: Error) => void) | null = null;
  private readonly tap: ShadowTap | null;

  constructor(o: ExchangeInit) {
    this.tap = o.tap;
    this.route = o.route;
    this.proxy = o.route.proxy;
    this.req = o.req;
    this.res = o.res;
    this.upstream = o.upstream;
    this.startMs = o.startMs;
    this.headers = o.headers;
    this.body = o.bodyBytes === 0 ? null : this.limitedBody();
  }

  private limitedBody(): BodyLimit {
    const req = this.req;
    const limit = new BodyLimit(this.proxy.maxBodyBytes, this.tap);
    // Errors reach undici through its own listener; this one keeps a late one (the
    // client left after the answer) from being an uncaught exception.
    limit.on('error', () => {});
    req.pipe(limit);
    // A client that leaves mid-body fails the body, which undici sees.
    req.once('close', () => {
      if (!req.complete) limit.destroy(CLIENT_GONE);
    });
    this.watchBodyIdle();
    return limit;
  }

  /** A client that stops sending its body holds a backend connection: cut it after idle_timeout. */
  private watchBodyIdle(): void {
    const req = this.req;
    req.setTimeout(this.proxy.idleTimeoutMs, () => {
      if (this.isDone || this.hasResponded) return;
      if (this.abort !== null) this.abort(BODY_IDLE);
      else this.res.destroy();
    });
    req.once('end', () => req.socket?.setTimeout(0));
  }

  dispatch(): void {
    const u = this.upstream;
    u.begin();
    this.abort = null;
    this.sentAtMs = performance.now();
    this.route.health.sent(u, this);
    const req = this.req;
    u.pool.dispatch(
      {
        path: req.url!,
        method: req.method as Dispatcher.HttpMethod,
        headers: this.headers,
        body: this.body,
        headersTimeout: this.proxy.responseTimeoutMs,
        bodyTimeout: this.proxy.idleTimeoutMs,
      },
      this,
    );
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 1xx informational: the final answer follows
    if (hasCodingBesidesChunked(rawHeaders) && this.hasResponseBody(statusCode)) {
      // A 502 like other framing the router cannot forward; the connection is not reused.
      this.abort?.(UNFORWARDABLE_CODING);
      return false;
    }
    this.route.health.answered(this.upstream, this, performance.now());
    this.statusCode = statusCode;
    this.resume = resume;
    if (this.res.destroyed) {
      this.hasResponded = true;
      this.abort?.(CLIENT_GONE);
      return false;
    }
    const headers = this.responseHeaders(rawHeaders);
    this.tap?.onHeaders(statusCode, rawHeaders);
    if (this.isStream) {
      if (statusCode < 300) this.upstream.counters.streamsOpened++;
      else this.isStream = false;
    }
    this.res.writeHead(statusCode, headers);
    // An event stream's events must reach the client as they come, not when node's buffer fills.
    if (this.isStream) this.res.flushHeaders();
    this.hasResponded = true;
    return true;
  }

  onData(chunk: Buffer): boolean {
    const res = this.res;
    this.tap?.onData(chunk);
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
    this.record(false);
    // An event stream is never compared; the copy leaves once the user's answer is out.
    if (this.tap !== null && !this.isStream) this.tap.onComplete(this.res);
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
    if (this.hasResponded && (this.statusCode === 204 || this.statusCode === 304) && (err as { code?: string }).code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') {
      // undici takes a 304's Content-Length (which RFC 9110 §8.6 allows: the size of
      // the 200 it stands for) or a 204's as a body to come. Neither has a body; the
      // answer is whole, and undici has already dropped that backend connection.
      this.onComplete();
      return;
    }
    this.isDone = true;
    const failed = this.upstream;
    failed.end();
    if (err === BACKEND_STALLED && this.stallTarget !== null && !this.hasResponded) {
      this.route.health.settled(failed, this, null, performance.now());
      failed.counters.retries++;
      this.hasRetried = true;
      this.upstream = this.stallTarget;
      this.stallTarget = null;
      this.isDone = false;
      this.dispatch();
      return;
    }
    const isClientSide = err === CLIENT_GONE || err === BODY_TOO_LARGE || err === BODY_IDLE || this.res.destroyed;
    if (!this.hasResponded) {
      const blame = isClientSide ? null : ((err as { code?: string }).code ?? 'error');
      this.route.health.settled(failed, this, blame, performance.now());
    }
    if (err === BODY_TOO_LARGE || err === BODY_IDLE) {
      // The client's doing, not the release's: counted for the environment, not in its analysis.
      this.route.counters.refused[err === BODY_TOO_LARGE ? 'max_body' : 'idle_timeout']++;
      if (this.hasResponded) this.res.destroy();
      else if (err === BODY_TOO_LARGE) answerThenLinger(this.req, this.res, this.proxy.bodyTooLarge);
      else sendAnswer(this.res, this.proxy.bodyIdle);
      return;
    }
    if (this.hasResponded) {
      // Cut mid-body by the backend or its idle timeout, or a client that left: the only
      // honest signal left is a cut connection (the status line has gone out already).
      const isBackendSide = !isClientSide;
      if (isBackendSide && !this.isStream) failed.counters.upstreamErrors++;
      if (!this.hasEnded) this.res.destroy();
      this.record(isBackendSide);
      return;
    }
    const code = (err as { code?: string }).code ?? '';
    const failure = upstreamFailureOf(err);
    // A backend that answered nonsense (an unasked-for 100 or 101) is not one that closed,
    // though undici gives both the same code: it has the request, so it goes nowhere else.
    if (failure !== 'invalid' && RETRYABLE_CODES.has(code) && (NEVER_SENT_CODES.has(code) || IDEMPOTENT_METHODS.has(this.req.method ?? '')) && this.canRetry()) {
      const other = this.route.picker.pickOther(failed, failed.release);
      if (other !== null) {
        failed.counters.retries++;
        this.hasRetried = true;
        this.upstream = other;
        this.isDone = false;
        this.dispatch();
        return;
      }
    }
    if (code === 'UND_ERR_HEADERS_TIMEOUT') {
      failed.counters.timeouts++;
      this.answer(this.proxy.gatewayTimeout);
    } else {
      failed.counters.upstreamErrors++;
      this.answer(badGatewayAnswer(failure, this.hasRetried));
    }
  }

  /** The backend's headers for the client, less hop-by-hop ones (node adds its own framing); notes Content-Length and event streams. */
  private responseHeaders(raw: Buffer[]): string[] {
    const out: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toString('latin1');
      if (isHopByHopResponseHeader(name)) continue;
      const value = raw[i + 1]!.toString('latin1');
      if (name.length === 14 && name.toLowerCase() === 'content-length') this.bodyLeft = Number(value);
      else if (name.length === 12 && value.startsWith(EVENT_STREAM) && name.toLowerCase() === 'content-type') this.isStream = true;
      out.push(name, value);
    }
    return out;
  }

  /** Whether an answer with this status to this request has a body (RFC 9110 §6.4.1). */
  private hasResponseBody(statusCode: number): boolean {
    return statusCode !== 204 && statusCode !== 304 && this.req.method !== 'HEAD';
  }

  /** Once only, and only if the request body (if any) was not read yet: it cannot be sent twice. */
  private canRetry(): boolean {
    return !this.hasRetried && !this.res.destroyed && (this.body === null || !this.body.readableDidRead);
  }

  private answer(a: RouterAnswer): void {
    this.statusCode = a.status;
    sendAnswer(this.res, a);
    this.record(false);
  }

  private record(hasFailed: boolean): void {
    const counters = this.upstream.counters;
    if (this.isStream) {
      counters.recordStreamEnd(hasFailed);
      return;
    }
    const ms = performance.now() - this.startMs;
    // Past proxy.long_request: counted on its own, out of the latency analysis reads.
    if (ms > this.proxy.longRequestMs) counters.recordLong(this.statusCode, hasFailed);
    else counters.record(this.statusCode, ms);
  }
}

/**
 * Whether a backend's answer names a transfer coding besides chunked (`gzip, chunked`,
 * or `gzip` with the body running to the close). undici undoes only the chunking and
 * the client's framing is node's, so the coding would be dropped from the answer
 * while its bytes stay coded, which RFC 9112 §6.1 forbids a recipient that does not
 * decode it. The router does not decode it: it never passed on a TE asking for one.
 */
function hasCodingBesidesChunked(raw: Buffer[]): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 17 && name.toString('latin1').toLowerCase() === 'transfer-encoding' && raw[i + 1]!.toString('latin1').trim().toLowerCase() !== 'chunked') return true;
  }
  return false;
}
