// One backend instance as the proxy sees it: its keep-alive connection pool, its
// inflight count, its upgraded connections and the counters of the release it serves.
// A backend removed from the table is kept until its last request and connection
// end, because the server drains an instance by removing it and then polling its
// inflight before stopping it. Its upgraded connections (WebSockets) may last for
// hours: they get until the drain deadline the server names (drainWithin), then the
// router closes them.

import { Pool } from 'undici';
import { BackendHealth } from './passive-health.ts';
import type { ReleaseCounters } from './router-stats.ts';

/** The response and body timeouts are the environment's (proxy-settings.ts), given with each request. */
export interface UpstreamPoolOptions {
  connectTimeoutMs: number;
}

export const DEFAULT_POOL_OPTIONS: UpstreamPoolOptions = {
  connectTimeoutMs: 5_000,
};

/** An upgraded connection (tunnel.ts), as its backend holds it. */
export interface UpgradedConnection {
  /** Closes both sides now; the router decided (drain deadline, shutdown). */
  cut(): void;
}

export interface UpstreamSpec {
  env: string;
  id: string;
  release: string;
  url: string;
}

export class Upstream {
  readonly env: string;
  readonly id: string;
  readonly release: string;
  readonly url: string;
  readonly pool: Pool;
  /** The counters of (env, release), bumped when a request answered by this backend ends. */
  readonly counters: ReleaseCounters;
  inflight = 0;
  requests = 0;
  /** Open upgraded connections; each came in as a request and left `inflight` when it was upgraded. */
  readonly upgraded = new Set<UpgradedConnection>();
  private drainTimer: NodeJS.Timeout | null = null;
  /** False once the backend left the table; it then closes as soon as inflight is 0. */
  isInTable = true;
  isClosed = false;
  /** What passive health learnt from this backend's traffic; the picker skips it while ejected. */
  readonly health = new BackendHealth();
  private readonly onClosed: (u: Upstream) => void;

  constructor(spec: UpstreamSpec, counters: ReleaseCounters, options: UpstreamPoolOptions, onClosed: (u: Upstream) => void) {
    this.env = spec.env;
    this.id = spec.id;
    this.release = spec.release;
    this.url = spec.url;
    this.counters = counters;
    this.onClosed = onClosed;
    this.pool = new Pool(spec.url, {
      pipelining: 1,
      connectTimeout: options.connectTimeoutMs,
      // Keep idle sockets a little under node's default 5 s server keep-alive; undici
      // also honours a `Keep-Alive: timeout=N` hint from the backend.
      keepAliveTimeout: 4_000,
    });
  }

  /** Whether this is the same backend as a table entry (same identity, address and release). */
  matches(spec: UpstreamSpec): boolean {
    return spec.env === this.env && spec.id === this.id && spec.release === this.release && spec.url === this.url;
  }

  begin(): void {
    this.inflight++;
    this.requests++;
  }

  end(): void {
    this.inflight--;
    if (!this.isInTable && this.isIdle) this.close();
  }

  /** A request of this backend became an upgraded connection (call `end()` for the request as well). */
  addUpgraded(c: UpgradedConnection): void {
    this.upgraded.add(c);
    this.counters.upgradesOpened++;
  }

  removeUpgraded(c: UpgradedConnection): void {
    if (!this.upgraded.delete(c)) return;
    if (!this.isInTable && this.isIdle) this.close();
  }

  private get isIdle(): boolean {
    return this.inflight === 0 && this.upgraded.size === 0;
  }

  retire(): void {
    this.isInTable = false;
    if (this.isIdle) this.close();
  }

  /**
   * The server stops this (retired) backend's instance after `timeoutMs`: its upgraded
   * connections are closed then, by the router, rather than broken by the instance's
   * death. Asked again, the later deadline replaces the earlier one.
   */
  drainWithin(timeoutMs: number): void {
    if (this.isInTable || this.isClosed) return;
    if (this.drainTimer !== null) clearTimeout(this.drainTimer);
    this.drainTimer = setTimeout(() => this.cutUpgraded(), timeoutMs);
    this.drainTimer.unref();
  }

  /** Closes every upgraded connection of this backend now. */
  cutUpgraded(): void {
    for (const c of [...this.upgraded]) c.cut();
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    if (this.drainTimer !== null) clearTimeout(this.drainTimer);
    // close() lets queued requests finish; nothing is queued once inflight is 0.
    this.pool.close().catch(() => {});
    this.onClosed(this);
  }

  async destroy(): Promise<void> {
    this.isClosed = true;
    if (this.drainTimer !== null) clearTimeout(this.drainTimer);
    this.cutUpgraded();
    await this.pool.destroy().catch(() => {});
  }
}
