// The HTTP/1.1 listener of one address, serving one environment or several that
// split it by host and path (host-routes.ts). Its routes are swapped whole when a
// table applies, so an environment joining or leaving a shared listener never
// closes it: requests to the others go on. A listen failure (EADDRINUSE, EACCES)
// is kept as state and reported, never thrown: one bad address must not take down
// the routing of the other environments.
//
// Node's own limits are set so that none ends a request behind the environment's
// proxy settings' back: no total request time (a long upload is cut only when its
// body goes idle, proxy.ts), 60 s to send the request head (slow-header clients),
// and 16 KB of request headers; what node refuses is answered with a body that
// says why (router-answers.ts), not its bare 400/431, and after the answers to the
// requests pipelined before it (client-error-answer.ts).
//
// A listener may read a PROXY protocol header in front of each connection
// (proxy-protocol-listener.ts), when an environment on it asks for it.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { Server as NetServer, type Socket } from 'node:net';
import { errorMessage } from '../core/errors.ts';
import { hostHeaderOf, requestHost, stripPathPrefix, UNKNOWN_HOST, type HostRoutes, type RouteEntry, type RouteMiss } from './host-routes.ts';
import { normaliseRequest } from './forwardable-request.ts';
import { handleExpectContinue, handleProxyRequest, sendAnswer } from './proxy.ts';
import { listenHost, listenPort } from './route-table.ts';
import { afterEarlierAnswers, answerClientError, answerInTurn } from './client-error-answer.ts';
import { CONNECT_REFUSED, hasRequestBody, unknownRouteAnswer, writeRawAnswer, type RouterAnswer } from './router-answers.ts';
import type { ListenerCounters } from './router-stats.ts';
import type { HealthLog } from './passive-health.ts';
import { copyProxiedRemote, readProxyProtocolOn, type ProxyProtocolReader, type ProxyProtocolSettings, type ProxyRefusal } from './proxy-protocol-listener.ts';
import { handleProxyUpgrade } from './upgrade-proxy.ts';
import { gateRequest, gateUpgrade } from './traffic-gate.ts';
import { answerAcmeChallenge, redirectAnswer } from './tls/plain-answers.ts';
import type { CertificateInfo, CertificateSet } from './tls/certificate-set.ts';
import { createTlsServer, type TlsServer } from './tls/tls-server.ts';

export interface ListenerStatus {
  listen: string;
  listening: boolean;
  /** A TLS listener's certificates (never their keys), and those it could not load. */
  tls?: { certificates: CertificateInfo[]; errors?: string[] };
  /** The bound "HOST:PORT" (differs from `listen` when it asked for port 0). */
  address?: string;
  error?: string;
}

export class AddressListener {
  /** The address bound, as the first environment to ask for it wrote it. */
  readonly listen: string;
  /** Swapped whole by a table; a request reads it once, when it arrives. */
  routes: HostRoutes;
  private readonly counters: ListenerCounters;
  /** What listens: the HTTP/1.1 server, or the TLS server in front of it. */
  private server: NetServer | null = null;
  private http1: Server | null = null;
  private isListening = false;
  private error: string | undefined;
  private address: string | undefined;
  private port: number | null = null;
  /**
   * Non-null: this listener speaks TLS (HTTP/2 and HTTP/1.1), with these
   * certificates; swapped whole by a table like `routes`. Fixed at construction
   * whether it is TLS at all: a listener that changes is replaced (router.ts).
   */
  private certs: CertificateSet | null;
  /** ACME HTTP-01 answers (token → key authorization) of the environments on this listener. */
  challenges: ReadonlyMap<string, string> = new Map();
  private tls: TlsServer | null = null;
  /** Non-null: connections may start with a PROXY protocol header; swapped whole by a table like `routes`. */
  proxyProtocol: ProxyProtocolSettings | null = null;
  private proxyReader: ProxyProtocolReader | null = null;
  private readonly log: HealthLog | undefined;
  /** Refusals already written to the log: once per reason, so a flood of them is one line (the count is in /stats). */
  private readonly loggedRefusals = new Set<ProxyRefusal>();

  constructor(o: { listen: string; routes: HostRoutes; counters: ListenerCounters; certificates?: CertificateSet | null; log?: HealthLog }) {
    this.listen = o.listen;
    this.routes = o.routes;
    this.counters = o.counters;
    this.certs = o.certificates ?? null;
    this.log = o.log;
  }

  get isTls(): boolean {
    return this.certs !== null;
  }

  get certificates(): CertificateSet | null {
    return this.certs;
  }

  set certificates(next: CertificateSet | null) {
    this.certs = next;
    if (next !== null) this.tls?.setDefault(next);
  }

  get listening(): boolean {
    return this.isListening;
  }

  /** The port bound (the one the OS chose, for port 0); null while not listening. */
  get boundPort(): number | null {
    return this.port;
  }

  status(): ListenerStatus {
    const s: ListenerStatus = { listen: this.listen, listening: this.isListening };
    if (this.address !== undefined) s.address = this.address;
    if (this.error !== undefined) s.error = this.error;
    if (this.certificates !== null) {
      s.tls = { certificates: this.certificates.infos };
      if (this.certificates.errors.length > 0) s.tls.errors = this.certificates.errors;
    }
    return s;
  }

  /** Resolves once listening or failed; check `listening` / `status()` for which. */
  open(): Promise<void> {
    if (this.isListening) return Promise.resolve();
    // A fresh server per attempt: a server whose listen() failed is not reused.
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      if (this.challenges.size > 0 && answerAcmeChallenge(this.challenges, req, res)) return;
      const entry = this.targetOf(req);
      if (isAnswer(entry)) sendAnswer(res, entry);
      else if (entry.route.maintenance !== null || entry.route.hold.isHolding) gateRequest(entry.route, req, res, () => handleProxyRequest(entry.route, req, res, entry.strip));
      else handleProxyRequest(entry.route, req, res, entry.strip);
    };
    // The TLS server gives HTTP/2 requests through node's compatibility API, which the proxy reads as it reads HTTP/1.1 ones.
    this.tls = this.certs === null ? null : createTlsServer(() => this.certs!, onRequest);
    if (this.certs !== null) this.tls?.setDefault(this.certs);
    // Handlers go on the HTTP/1.1 server; what listens is it, or the TLS server in front of it.
    const server: Server = this.tls === null ? createServer({ keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 60_000 }, onRequest) : this.tls.http1;
    const listening: NetServer = this.tls?.listener ?? server;
    this.proxyReader = this.readProxyHeaders(listening);
    server.on('checkContinue', (req, res) => {
      const entry = this.targetOf(req);
      if (isAnswer(entry)) sendAnswer(res, entry);
      else if (entry.route.maintenance !== null || entry.route.hold.isHolding) gateRequest(entry.route, req, res, () => handleExpectContinue(entry.route, req, res, entry.strip));
      else handleExpectContinue(entry.route, req, res, entry.strip);
    });
    // An upgrade pipelined behind requests still being answered waits for their answers
    // (client-error-answer.ts): its 101, or any answer to it, is written raw, at once.
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => afterEarlierAnswers(socket, () => this.upgrade(req, socket, head)));
    // Node hands a CONNECT over as 'connect', and closes it unanswered when nobody
    // listens (HTTP/2: a bare 405); the router opens no tunnels, and says so.
    server.on('connect', (_req: IncomingMessage, socket: Socket) => {
      (this.routes.sole?.counters.refused ?? this.counters.refused).bad_request++;
      answerInTurn(socket, CONNECT_REFUSED);
    });
    // Sent through node's compatibility API, as the proxy's answers to HTTP/2 requests are;
    // it drops the answer's Connection: close: the stream ends, the session stays.
    this.tls?.http2.on('connect', (_req: Http2ServerRequest, res: Http2ServerResponse) => {
      (this.routes.sole?.counters.refused ?? this.counters.refused).bad_request++;
      sendAnswer(res as unknown as ServerResponse, CONNECT_REFUSED);
    });
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => answerClientError(this.routes.sole?.counters.refused ?? this.counters.refused, err, socket));
    return new Promise((resolve) => {
      const onError = (err: Error): void => {
        listening.off('listening', onListening);
        this.error = `cannot listen on ${this.listen}: ${errorMessage(err)}`;
        resolve();
      };
      const onListening = (): void => {
        listening.off('error', onError);
        // From here on, errors are per connection and node already answers or closes them.
        listening.on('error', () => {});
        const a = listening.address();
        this.server = listening;
        this.http1 = server;
        this.isListening = true;
        this.error = undefined;
        if (a !== null && typeof a === 'object') {
          this.address = a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
          this.port = a.port;
        }
        resolve();
      };
      listening.once('error', onError);
      listening.once('listening', onListening);
      // Not exclusive: in a router worker, the keeper binds the socket once and every
      // worker accepts on it (router-workers.ts); in any other process it changes nothing.
      listening.listen({ port: listenPort(this.listen), host: listenHost(this.listen), exclusive: false });
    });
  }

  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const entry = this.targetOf(req);
    if (isAnswer(entry)) writeRawAnswer(socket, entry);
    else if (entry.route.maintenance !== null || entry.route.hold.isHolding) gateUpgrade(entry.route, req, socket, () => handleProxyUpgrade(entry.route, req, socket, head, entry.strip));
    else handleProxyUpgrade(entry.route, req, socket, head, entry.strip);
  }

  /**
   * What answers the request: the environment it is for (its path already without a
   * stripped prefix), or the router itself: a request it will not forward as it came
   * (forwardable-request.ts), a host or path it does not know, or redirect_http's
   * answer. A request that came over TLS to a balancer in front is served by the
   * environment, not redirected (tls/plain-answers.ts).
   */
  private targetOf(req: IncomingMessage): RouteEntry | RouterAnswer {
    const refusal = normaliseRequest(req);
    if (refusal !== null) {
      (this.routes.sole?.counters.refused ?? this.counters.refused).bad_request++;
      return refusal;
    }
    const url = req.url ?? '/';
    const entry = this.routeOf(req);
    if (typeof entry === 'string') return this.unknown(entry, req);
    const redirect = entry.route.httpsRedirect;
    if (redirect == null) return entry;
    const answer = redirectAnswer(redirect, req, url);
    if (answer === null) return { ...entry, route: redirect.environment };
    if (answer.status === 308) this.counters.redirected++;
    return answer;
  }

  /** The environment the request is for, or what the router did not know. One environment's own listener skips the lookup. */
  private routeOf(req: IncomingMessage): RouteEntry | RouteMiss {
    const routes = this.routes;
    if (routes.only !== null) return routes.only;
    const entry = routes.match(requestHost(hostHeaderOf(req.rawHeaders)), req.url ?? '/');
    if (typeof entry !== 'string' && entry.strip !== null) req.url = stripPathPrefix(req.url ?? '/', entry.strip);
    return entry;
  }

  /** The router's own 404, counted for the listener. */
  private unknown(miss: RouteMiss, req: IncomingMessage): RouterAnswer {
    if (miss === UNKNOWN_HOST) this.counters.unknownHost++;
    else this.counters.unknownPath++;
    // A body not read: closing is cheaper than reading it to keep the connection.
    return unknownRouteAnswer({ miss, listen: this.listen, host: requestHost(hostHeaderOf(req.rawHeaders)), url: req.url ?? '/', close: hasRequestBody(req) });
  }

  /** Puts the PROXY header's reading in front of the server's connections; it reads nothing while `proxyProtocol` is null. */
  private readProxyHeaders(listening: NetServer): ProxyProtocolReader {
    const counts = this.counters.proxyProtocol;
    const reader = readProxyProtocolOn(listening, {
      settings: () => this.proxyProtocol,
      onAccepted: (source) => {
        if (source === null) counts.local++;
        else counts.accepted++;
      },
      onRefused: (reason, { peer, message }) => {
        counts[reason]++;
        if (this.loggedRefusals.has(reason)) return;
        this.loggedRefusals.add(reason);
        this.log?.warn({ listen: this.listen, peer: peer ?? 'unknown', reason, detail: message }, 'PROXY protocol: connection refused (further refusals of this kind are only counted, in /stats listeners.<address>.proxyProtocol)');
      },
    });
    // A TLS socket reads its peer from the connection's handle, not from the raw
    // socket the header was read on: it is given the header's client before the
    // HTTP servers see it (prepended: tls-server.ts hands it over in its own listener).
    if (this.tls !== null) {
      this.tls.listener.prependListener('secureConnection', (socket: Socket & { _parent?: Socket }) => copyProxiedRemote(socket, socket._parent));
    }
    return reader;
  }

  /**
   * Stops accepting at once (the port is free when this returns its promise), lets
   * requests in flight finish for up to `graceMs`, then cuts what is left.
   */
  async close(graceMs: number, o: { idleCloseDelayMs?: number } = {}): Promise<void> {
    const server = this.server;
    const http1 = this.http1;
    if (server === null || http1 === null) return;
    this.server = null;
    this.http1 = null;
    this.isListening = false;
    this.address = undefined;
    this.port = null;
    const tls = this.tls;
    this.proxyReader?.destroyPending();
    this.proxyReader = null;
    // With a delay, a plain listener stops accepting through net's close: http's own
    // close() would also close the idle kept-alive connections at once (below, why not).
    const idleCloseDelayMs = Math.min(o.idleCloseDelayMs ?? 0, graceMs);
    const isDelayed = tls === null && idleCloseDelayMs > 0;
    const closed = new Promise<void>((resolve) => (isDelayed ? NetServer.prototype.close.call(server, () => resolve()) : server.close(() => resolve())));
    this.tls = null;
    if (tls !== null) {
      tls.closeConnections();
    } else {
      // Connections that finish a request after close() would otherwise stay open for keep-alive.
      http1.on('request', (_req, res) => res.setHeader('connection', 'close'));
    }
    // When the router itself stops (or an upgrade retires it), idle kept-alive
    // connections are closed a moment later, not at once: a client may be sending its
    // next request on one right now, and would see a reset, while a new router process
    // accepts on the same socket. Meanwhile each busy one gets its last answer with
    // Connection: close. http's close() then closes them (and stops its checks).
    const idleTimer = isDelayed ? setTimeout(() => http1.close(() => {}), idleCloseDelayMs) : null;
    const timer = setTimeout(() => (tls !== null ? tls.destroyConnections() : http1.closeAllConnections()), graceMs);
    await closed;
    clearTimeout(timer);
    if (idleTimer !== null) {
      clearTimeout(idleTimer);
      http1.close(() => {});
    }
  }
}

function isAnswer(target: RouteEntry | RouterAnswer): target is RouterAnswer {
  return 'status' in target;
}
