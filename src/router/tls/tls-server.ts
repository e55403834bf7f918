// The HTTPS side of a listener: one node:http2 secure server that speaks HTTP/2 to
// clients that offer it by ALPN and HTTP/1.1 (keep-alive, WebSocket upgrades) to
// the rest. Upstreams stay HTTP/1.1 (proxy.ts). The certificate of each handshake
// comes from the listener's current CertificateSet, read at the handshake.
//
// An http2 server has no closeIdleConnections(), so the connections are tracked
// here: on close, HTTP/2 sessions get a GOAWAY (requests in flight finish) and
// HTTP/1.1 sockets with no request in flight are ended; the rest end as their
// requests do, or when the grace runs out.

import { createSecureServer, type Http2SecureServer, type Http2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { CertificateSet } from './certificate-set.ts';

export interface TlsServer {
  server: Http2SecureServer;
  /** Sets the certificate of handshakes without SNI (when it changed). */
  setDefault(certificates: CertificateSet): void;
  /** Stops new work on open connections (GOAWAY, ends idle HTTP/1.1 ones); the server must be closed too. */
  closeConnections(): void;
  destroyConnections(): void;
}

const inFlight = Symbol('slipway.inFlight');
type TrackedSocket = TLSSocket & { [inFlight]?: number };

export function createTlsServer(certificates: () => CertificateSet): TlsServer {
  const server = createSecureServer({
    allowHTTP1: true,
    // Handshakes with no certificate to give fail cleanly (a TLS alert), never with a made-up one.
    SNICallback: (servername, cb) => {
      const context = certificates().contextFor(servername);
      if (context === null) cb(new Error('no certificate for this listener yet'));
      else cb(null, context);
    },
    // As address-listener.ts sets for plain HTTP/1.1 (these options reach the HTTP/1.1 side too).
    settings: { maxConcurrentStreams: 250 },
  });
  Object.assign(server, { keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 60_000 });
  const sockets = new Set<TrackedSocket>();
  const sessions = new Set<Http2Session>();
  let isClosing = false;
  let defaultPem: string | null = null;
  server.on('secureConnection', (socket: TrackedSocket) => {
    // A client without SNI never reaches the callback: it gets the default certificate.
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('session', (session: Http2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    if (isClosing) session.close();
  });
  server.on('request', (req, res) => {
    if (req.httpVersionMajor !== 1) return;
    const socket = req.socket as TrackedSocket;
    socket[inFlight] = (socket[inFlight] ?? 0) + 1;
    res.once('close', () => {
      socket[inFlight] = (socket[inFlight] ?? 1) - 1;
      if (isClosing && socket[inFlight] === 0) socket.end();
    });
    if (isClosing) res.setHeader('connection', 'close');
  });
  // An upgraded connection (a WebSocket) is upgrade-proxy.ts's to drain, never ended here as idle.
  server.on('upgrade', (_req, socket: TrackedSocket) => {
    socket[inFlight] = 1;
  });
  // A handshake that fails (no certificate, a client that gives up) is the client's business.
  server.on('tlsClientError', (_err: Error, socket: Socket) => socket.destroy());
  return {
    server,
    setDefault(certificates) {
      const pem = certificates.defaultPem;
      const text = pem === null ? null : `${pem.cert}\0${pem.key}`;
      if (text === defaultPem || pem === null) return;
      defaultPem = text;
      server.setSecureContext({ cert: pem.cert, key: pem.key });
    },
    closeConnections() {
      isClosing = true;
      for (const s of sessions) s.close();
      for (const socket of sockets) if (socket.alpnProtocol !== 'h2' && !(socket[inFlight] ?? 0)) socket.end();
    },
    destroyConnections() {
      for (const socket of sockets) socket.destroy();
    },
  };
}
