// One upgraded connection (a WebSocket, or any `Connection: Upgrade` protocol): the
// client's socket and the backend's, piped both ways, byte for byte. The router
// does not read the protocol: it counts the connection on its backend (a drain
// waits for it) and cuts it when it is idle past the environment's idle_timeout,
// at its backend's drain deadline, or at shutdown.

import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { UpgradedConnection, Upstream } from './upstream.ts';

/** After one side closed, how long the other may take to send what it still has. */
const LINGER_MS = 1_000;

export class Tunnel implements UpgradedConnection {
  private isOver = false;
  private hasFailed = false;
  private wasCut = false;

  constructor(
    private readonly client: Socket,
    private readonly backend: Duplex,
    private readonly upstream: Upstream,
    idleTimeoutMs: number,
  ) {
    upstream.addUpgraded(this);
    // Activity either way shows on the client's socket: what the backend sends is written to it.
    client.setTimeout(idleTimeoutMs);
    client.on('timeout', () => this.cut());
    const onError = (): void => {
      if (!this.wasCut) this.hasFailed = true;
      this.finish();
    };
    client.on('error', onError);
    backend.on('error', onError);
    client.on('close', () => this.finish());
    backend.on('close', () => this.finish());
    client.pipe(backend);
    backend.pipe(client);
  }

  cut(): void {
    if (this.isOver) return;
    this.wasCut = true;
    this.finish();
  }

  /** Once, at the first close, error or cut: frees the other side and settles the counts. */
  private finish(): void {
    if (this.isOver) return;
    this.isOver = true;
    for (const side of [this.client, this.backend]) {
      if (side.destroyed) continue;
      if (this.wasCut || this.hasFailed) {
        side.destroy();
      } else {
        // A clean close on one side: the other still sends what it has, then goes.
        side.end();
        setTimeout(() => side.destroy(), LINGER_MS).unref();
      }
    }
    this.upstream.counters.recordUpgradeEnd(this.wasCut ? 'cut' : this.hasFailed ? 'error' : 'closed');
    this.upstream.removeUpgraded(this);
  }
}
