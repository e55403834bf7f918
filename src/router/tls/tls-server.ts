// The HTTPS side of a listener: one TLS server whose handshakes offer HTTP/2 and
// HTTP/1.1 by ALPN, then hand each connection to the protocol's own server: an
// HTTP/1.1 node:http server (keep-alive, WebSocket upgrades, the same handlers as
// a plain listener) or a node:http2 server for clients that chose h2. Upstreams
// stay HTTP/1.1 (proxy.ts). Not http2.createSecureServer({ allowHTTP1 }): its
// HTTP/1.1 path cost 71 µs of CPU per request against https' 45 µs here.
// The certificate of each handshake comes from the listener's current
// CertificateSet, read at the handshake; a handshake offering ALPN acme-tls/1 for a
// name with an ACME TLS-ALPN-01 challenge under way gets the challenge certificate.
//
// Connections are tracked here: on close, HTTP/2 sessions get a GOAWAY (requests
// in flight finish) and HTTP/1.1 sockets with no request in flight are ended; the
// rest end as their requests do, or when the grace runs out.

import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttp2Server, type Http2Server, type Http2Session } from 'node:http2';
import { createServer as createTlsNetServer, type Server as TlsNetServer, type TLSSocket } from 'node:tls';
import type { CertificateSet } from './certificate-set.ts';

export interface TlsServer {
  /** What listens: the TLS server. */
  listener: TlsNetServer;
  /** Where HTTP/1.1 requests, upgrades and client errors arrive (as on a plain listener). */
  http1: Server;
  /** Where HTTP/2 CONNECTs arrive ('connect'); its other requests go to the request handler. */
  http2: Http2Server;
  /** Sets the certificate of handshakes without SNI (when it changed). */
  setDefault(certificates: CertificateSet): void;
  /** Stops new work on open connections (GOAWAY, ends idle HTTP/1.1 ones); the listener must be closed too. */
  closeConnections(): void;
  destroyConnections(): void;
}

const inFlight = Symbol('slipway.inFlight');
const ACME_TLS_ALPN = 'acme-tls/1';
type TrackedSocket = TLSSocket & { [inFlight]?: number };
type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

export function createTlsServer(certificates: () => CertificateSet, onRequest: RequestHandler): TlsServer {
  // As address-listener.ts sets for plain HTTP/1.1.
  const http1 = createHttpServer({ keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 60_000 }, onRequest);
  const http2 = createHttp2Server({ settings: { maxConcurrentStreams: 250 } }, onRequest as never);
  // The SNI name of the handshake whose ALPN callback just chose acme-tls/1. OpenSSL
  // runs the ALPN callback, then the certificate callback (SNICallback), for one
  // ClientHello in one synchronous pass, so no other handshake comes in between:
  // the SNICallback that follows reads it and clears it.
  let acmeHandshake: string | null = null;
  const listener = createTlsNetServer({
    // As ALPNProtocols ['h2', 'http/1.1'] would choose (a client offering neither gets no_application_protocol), plus
    // ACME TLS-ALPN-01 (RFC 8737): acme-tls/1 for a name with a challenge under way.
    ALPNCallback: ({ servername, protocols }) => {
      acmeHandshake = null;
      if (protocols.includes(ACME_TLS_ALPN) && typeof servername === 'string' && certificates().hasAlpnChallenge(servername)) {
        acmeHandshake = servername;
        return ACME_TLS_ALPN;
      }
      return protocols.includes('h2') ? 'h2' : protocols.includes('http/1.1') ? 'http/1.1' : undefined;
    },
    // Handshakes with no certificate to give fail cleanly, never with a made-up one: with
    // no context here the server's own is used, which then has no certificate either
    // (setDefault), and OpenSSL answers with a handshake_failure alert. An error passed
    // to cb would drop the connection with no alert at all: clients report a network
    // failure (curl's SSL_ERROR_SYSCALL) rather than a TLS one.
    SNICallback: (servername, cb) => {
      const isAcme = acmeHandshake === servername;
      acmeHandshake = null;
      const context = isAcme ? certificates().alpnChallengeContext(servername) : certificates().contextFor(servername);
      cb(null, context ?? undefined);
    },
  });
  const sockets = new Set<TrackedSocket>();
  const sessions = new Set<Http2Session>();
  let isClosing = false;
  let defaultPem: string | null = null;
  listener.on('secureConnection', (socket: TrackedSocket) => {
    // A client without SNI never reaches the callback: it gets the default certificate.
    // A CA's TLS-ALPN-01 check ends with the handshake: it carries no request (RFC 8737 §3).
    if (socket.alpnProtocol === ACME_TLS_ALPN) {
      socket.end();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    if (socket.alpnProtocol === 'h2') http2.emit('connection', socket);
    else http1.emit('connection', socket);
  });
  http2.on('session', (session: Http2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    if (isClosing) session.close();
  });
  http1.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket as TrackedSocket;
    socket[inFlight] = (socket[inFlight] ?? 0) + 1;
    res.once('close', () => {
      socket[inFlight] = (socket[inFlight] ?? 1) - 1;
      if (isClosing && socket[inFlight] === 0) socket.end();
    });
    if (isClosing) res.setHeader('connection', 'close');
  });
  // An upgraded connection (a WebSocket) is upgrade-proxy.ts's to drain, never ended here as idle.
  http1.on('upgrade', (_req: IncomingMessage, socket: TrackedSocket) => {
    socket[inFlight] = 1;
  });
  // A handshake that fails (no certificate, a client that gives up) is the client's business.
  listener.on('tlsClientError', (_err: Error, socket: TLSSocket) => socket.destroy());
  return {
    listener,
    http1,
    http2,
    setDefault(certs) {
      const pem = certs.defaultPem;
      const text = pem === null ? null : `${pem.cert}\0${pem.key}`;
      if (text === defaultPem) return;
      defaultPem = text;
      // None left (the environments that had one are gone): no certificate, not the last one's.
      listener.setSecureContext(pem === null ? {} : { cert: pem.cert, key: pem.key });
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
