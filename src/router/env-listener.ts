// The HTTP/1.1 listener of one environment. A listen failure (EADDRINUSE, EACCES) is
// kept as state and reported, never thrown: one bad address must not take down the
// routing of the other environments.

import { createServer, type Server } from 'node:http';
import { errorMessage } from '../core/errors.ts';
import { handleProxyRequest, type EnvRoute } from './proxy.ts';
import { listenHost, listenPort } from './route-table.ts';

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
    const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => handleProxyRequest(route, req, res));
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

