// One backend instance as the proxy sees it: its keep-alive connection pool, its
// inflight count and the counters of the release it serves. A backend removed from
// the table keeps its pool until its last request ends, because the server drains an
// instance by removing it and then polling its inflight before stopping it.

import { Pool } from 'undici';
import { BackendHealth } from './passive-health.ts';
import type { ReleaseCounters } from './router-stats.ts';

export interface UpstreamPoolOptions {
  /** Time to wait for the response header before answering 504. */
  headersTimeoutMs: number;
  /** Longest silence between two body chunks of a response (0 = none). */
  bodyTimeoutMs: number;
  connectTimeoutMs: number;
}

export const DEFAULT_POOL_OPTIONS: UpstreamPoolOptions = {
  headersTimeoutMs: 30_000,
  bodyTimeoutMs: 300_000,
  connectTimeoutMs: 5_000,
};

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
      headersTimeout: options.headersTimeoutMs,
      bodyTimeout: options.bodyTimeoutMs,
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
    if (this.inflight === 0 && !this.isInTable) this.close();
  }

  retire(): void {
    this.isInTable = false;
    if (this.inflight === 0) this.close();
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    // close() lets queued requests finish; nothing is queued once inflight is 0.
    this.pool.close().catch(() => {});
    this.onClosed(this);
  }

  async destroy(): Promise<void> {
    this.isClosed = true;
    await this.pool.destroy().catch(() => {});
  }
}
