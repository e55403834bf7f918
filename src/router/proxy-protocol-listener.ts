// Reading the PROXY protocol header (proxy-protocol.ts) on a listener, before the
// HTTP or TLS server sees the connection: the server's own 'connection' handlers
// are taken off and called once the header is read, with the bytes after it put
// back (a TLS ClientHello or an HTTP request head), and the client it names set as
// the socket's remote address. So everything that reads the client's address
// (X-Forwarded-For, trust_forwarded, logs) reads the one the header gave, and
// X-Forwarded-Proto reads whether the header said the client used TLS; node's
// TLS socket reads the bytes put back on the socket it wraps, so a header before a
// ClientHello works the same way.
//
// Only a peer in trust_forwarded may send one: from any other peer a header is
// refused (the connection closed), or it could name any address it liked. A peer
// that sends none is served as a client that connected directly: the load
// balancer's own health checks, or a local curl, still work. The header must
// arrive within PROXY_HEADER_TIMEOUT_MS of the connection.

import type { Server as NetServer, Socket } from 'node:net';
import type { ProxyProtocolMode } from '../core/service-config.ts';
import { readProxyHeader, type ProxySource } from './proxy-protocol.ts';

/** How long a connection may take to send its header (or the first bytes that show it has none). */
export const PROXY_HEADER_TIMEOUT_MS = 10_000;
/** A version 2 header's TLVs may take up to 64 KB (spec §2.2); past that it is refused whatever it says. */
const MAX_HEADER_BYTES = 16 + 65_535;

export type ProxyRefusal = 'untrusted' | 'invalid' | 'timeout';

export interface ProxyProtocolSettings {
  mode: ProxyProtocolMode;
  /** Whether the connection's peer may send a header (it is in trust_forwarded). */
  isTrusted(peer: string | undefined): boolean;
}

export interface ProxyProtocolHooks {
  /** Read at each connection: a table may turn the header on or off while the listener stays. */
  settings(): ProxyProtocolSettings | null;
  /** A connection served with the client its header named (`source` null: the header named none). */
  onAccepted(source: ProxySource | null): void;
  /** A connection closed for its header (or its lack of one in time). */
  onRefused(reason: ProxyRefusal, detail: { peer: string | undefined; message: string }): void;
}

export interface ProxyProtocolReader {
  /** Closes the connections still being read (the listener is closing). */
  destroyPending(): void;
}

/** Puts the reading of a PROXY header in front of `server`'s own connection handlers. `headerTimeoutMs`: tests shorten it. */
export function readProxyProtocolOn(server: NetServer, hooks: ProxyProtocolHooks, o: { headerTimeoutMs?: number } = {}): ProxyProtocolReader {
  const timeoutMs = o.headerTimeoutMs ?? PROXY_HEADER_TIMEOUT_MS;
  const handlers = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  const pending = new Set<Socket>();
  const handOver = (socket: Socket): void => {
    for (const fn of handlers) fn.call(server, socket);
  };
  server.on('connection', (socket: Socket) => {
    const settings = hooks.settings();
    if (settings === null) handOver(socket);
    else readHeader(socket, settings, { hooks, pending, handOver, timeoutMs });
  });
  return {
    destroyPending() {
      for (const socket of pending) socket.destroy();
      pending.clear();
    },
  };
}

function readHeader(socket: Socket, settings: ProxyProtocolSettings, o: { hooks: ProxyProtocolHooks; pending: Set<Socket>; handOver: (s: Socket) => void; timeoutMs: number }): void {
  // Read at accept, and again when judged if it was not known then: a CI run once
  // logged a refusal with no peer, so the address can be missing at first. Unknown,
  // the peer is not trusted (isTrusted(undefined) is false).
  let peer = socket.remoteAddress;
  const peerNow = (): string | undefined => (peer ??= socket.remoteAddress);
  o.pending.add(socket);
  let buf: Buffer = Buffer.alloc(0);
  const finish = (): void => {
    clearTimeout(timer);
    socket.off('readable', onReadable);
    socket.off('error', onError);
    socket.off('end', onEnd);
    o.pending.delete(socket);
  };
  const refuse = (reason: ProxyRefusal, message: string): void => {
    finish();
    o.hooks.onRefused(reason, { peer: peerNow(), message });
    socket.destroy();
  };
  const onError = (): void => {
    finish();
    socket.destroy();
  };
  // A peer that closes before it sent a header (or anything) has nothing to serve.
  const onEnd = (): void => {
    finish();
    socket.destroy();
  };
  const onReadable = (): void => {
    let chunk: Buffer | null;
    while ((chunk = socket.read() as Buffer | null) !== null) buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    if (buf.length === 0) return;
    const read = readProxyHeader(buf, settings.mode);
    switch (read.kind) {
      case 'more':
        if (buf.length > MAX_HEADER_BYTES) refuse('invalid', 'a PROXY header over 64 KB');
        return;
      case 'none':
        finish();
        socket.unshift(buf);
        o.handOver(socket);
        return;
      case 'invalid':
        refuse(settings.isTrusted(peerNow()) ? 'invalid' : 'untrusted', read.reason);
        return;
      case 'header': {
        if (!settings.isTrusted(peerNow())) {
          refuse('untrusted', `a PROXY version ${read.version} header from a peer not in proxy.trust_forwarded`);
          return;
        }
        finish();
        if (read.source !== null) setRemote(socket, read.source);
        o.hooks.onAccepted(read.source);
        if (buf.length > read.bytes) socket.unshift(buf.subarray(read.bytes));
        o.handOver(socket);
        return;
      }
    }
  };
  const timer = setTimeout(() => refuse('timeout', `no PROXY header (nor any byte) within ${o.timeoutMs / 1000}s`), o.timeoutMs);
  timer.unref();
  socket.on('error', onError);
  socket.on('end', onEnd);
  socket.on('readable', onReadable);
}

/**
 * The socket answers for the client the header named, as an own property over
 * net.Socket's getters: what node's HTTP and TLS servers, X-Forwarded-For and the
 * trust check read. A TLS socket made over it later reads its own peer from the
 * same handle, so the TLS server's connection handler copies these over (see
 * copyProxiedRemote).
 */
function setRemote(socket: Socket, source: ProxySource): void {
  Object.defineProperties(socket, {
    remoteAddress: { value: source.address, configurable: true },
    remotePort: { value: source.port, configurable: true },
    remoteFamily: { value: source.family, configurable: true },
  });
  (socket as ProxiedSocket)[PROXIED] = source;
}

const PROXIED = Symbol('slipway.proxySource');
type ProxiedSocket = Socket & { [PROXIED]?: ProxySource };

/** The client a PROXY header named for this raw socket, if any. */
export function proxiedSource(socket: Socket): ProxySource | undefined {
  return (socket as ProxiedSocket)[PROXIED];
}

/** Gives a TLS socket made over `raw` the client its PROXY header named (TLS sockets read their peer from the handle). */
export function copyProxiedRemote(tlsSocket: Socket, raw: Socket | undefined): void {
  const source = raw === undefined ? undefined : proxiedSource(raw);
  if (source !== undefined) setRemote(tlsSocket, source);
}
