// The HTTP/1.1 listener of one environment. A listen failure (EADDRINUSE, EACCES) is
// kept as state and reported, never thrown: one bad address must not take down the
// routing of the other environments.
//
// Node's own limits are set so that none ends a request behind the environment's
// proxy settings' back: no total request time (a long upload is cut only when its
// body goes idle, proxy.ts), 60 s to send the request head (slow-header clients),
// and 16 KB of request headers; what node refuses is answered with a body that
// says why (router-answers.ts), not its bare 400/431.

import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { errorMessage } from '../core/errors.ts';
import type { EnvRoute } from './env-route.ts';
import { handleExpectContinue, handleProxyRequest } from './proxy.ts';
import { listenHost, listenPort } from './route-table.ts';
import { BAD_REQUEST, HEAD_TIMEOUT, HEADERS_TOO_LARGE, writeRawAnswer } from './router-answers.ts';
import { handleProxyUpgrade } from './upgrade-proxy.ts';

export interface ListenerStatus {
  listen: string;
  listening: boolean;
  /** The bound "HOST:PORT" (differs from `listen` when it asked for port 0). */
  address?: string;
  error?: string;
}

export class EnvListener {
  private server: Server | null = null;
  private isListening = false;
  private error: string | undefined;
  private address: string | undefined;

  constructor(
    readonly route: EnvRoute,
    readonly listen: string,
  ) {}

  get listening(): boolean {
    return this.isListening;
  }

  status(): ListenerStatus {
    const s: ListenerStatus = { listen: this.listen, listening: this.isListening };
    if (this.address !== undefined) s.address = this.address;
    if (this.error !== undefined) s.error = this.error;
    return s;
  }

  /** Resolves once listening or failed; check `listening` / `status()` for which. */
  open(): Promise<void> {
    if (this.isListening) return Promise.resolve();
    // A fresh server per attempt: a server whose listen() failed is not reused.
    const route = this.route;
    const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 60_000 }, (req, res) => handleProxyRequest(route, req, res));
    server.on('checkContinue', (req, res) => handleExpectContinue(route, req, res));
    server.on('upgrade', (req, socket: Socket, head: Buffer) => handleProxyUpgrade(route, req, socket, head));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => answerClientError(route, err, socket));
    return new Promise((resolve) => {
      const onError = (err: Error): void => {
        server.off('listening', onListening);
        this.error = `cannot listen on ${this.listen}: ${errorMessage(err)}`;
        resolve();
      };
      const onListening = (): void => {
        server.off('error', onError);
        // From here on, errors are per connection and node already answers or closes them.
        server.on('error', () => {});
        const a = server.address();
        this.server = server;
        this.isListening = true;
        this.error = undefined;
        if (a !== null && typeof a === 'object') this.address = a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
        resolve();
      };
      server.once('error', onError);
      server.once('listening', onListening);
      server.listen({ port: listenPort(this.listen), host: listenHost(this.listen), exclusive: true });
    });
  }

  /**
   * Stops accepting at once (the port is free when this returns its promise), lets
   * requests in flight finish for up to `graceMs`, then cuts what is left.
   */
  async close(graceMs: number): Promise<void> {
    const server = this.server;
    if (server === null) return;
    this.server = null;
    this.isListening = false;
    this.address = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    // Connections that finish a request after close() would otherwise stay open for keep-alive.
    server.on('request', (_req, res) => res.setHeader('connection', 'close'));
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    await closed;
    clearTimeout(timer);
  }
}


/** What node could not parse: answered (when nothing was written yet) with a body naming the cause. */
function answerClientError(route: EnvRoute, err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable || socket.bytesWritten > 0) {
    socket.destroy();
    return;
  }
  const isTooLarge = err.code === 'HPE_HEADER_OVERFLOW';
  route.counters.refused[isTooLarge ? 'max_header_size' : 'bad_request']++;
  writeRawAnswer(socket, isTooLarge ? HEADERS_TOO_LARGE : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? HEAD_TIMEOUT : BAD_REQUEST);
}
