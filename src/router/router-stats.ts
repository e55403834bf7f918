// Cumulative counters since the router started: per environment per release (what
// analysis reads, as deltas between two snapshots) and per backend (what draining
// reads). The proxy bumps plain fields on objects it already holds; the JSON shape
// below is built only when someone asks for /stats.

import { createHistogram, recordMs, cloneHistogram, type LatencyHistogram } from '../core/latency-histogram.ts';

export type StatusClass = '1xx' | '2xx' | '3xx' | '4xx' | '5xx';

export interface ReleaseStatsJson {
  /** Answered requests (every status class, including the router's own 502/503/504). */
  requests: number;
  status: Record<StatusClass, number>;
  /** Requests answered 502 because no backend could be reached after the retry, and responses the backend cut mid-body. */
  upstreamErrors: number;
  /** Requests answered 504 because the backend sent no response header in time. */
  timeouts: number;
  /** Requests re-sent elsewhere after a connection failure or a stall of this release's backend (not failures the client saw). */
  retries: number;
  /** Times passive health ejected one of this release's backends from picking (failures in a row, or a stall). */
  ejections: number;
  /** Request arrival to response end, in milliseconds. */
  latency: LatencyHistogram;
}

export interface BackendStatsJson {
  inflight: number;
  requests: number;
  /** Passive health: 'in', 'ejected' (skipped by the picker) or 'trial' (back on probation after its cool-down). */
  health: 'in' | 'ejected' | 'trial';
}

export interface RouterStatsJson {
  startedAt: string;
  /** environment → release → counters. */
  environments: Record<string, Record<string, ReleaseStatsJson>>;
  /** environment → requests answered 503 because no weighted release had a backend. */
  unrouted: Record<string, number>;
  /** Backends in the table, and removed ones until their inflight reaches 0. */
  backends: Record<string, BackendStatsJson>;
}

export class ReleaseCounters {
  requests = 0;
  s1xx = 0;
  s2xx = 0;
  s3xx = 0;
  s4xx = 0;
  s5xx = 0;
  upstreamErrors = 0;
  timeouts = 0;
  retries = 0;
  ejections = 0;
  readonly latency: LatencyHistogram = createHistogram();

  /** Counts one answered request; the hot path's only stats call. */
  record(statusCode: number, latencyMs: number): void {
    this.requests++;
    if (statusCode < 300) {
      if (statusCode >= 200) this.s2xx++;
      else this.s1xx++;
    } else if (statusCode < 400) this.s3xx++;
    else if (statusCode < 500) this.s4xx++;
    else this.s5xx++;
    recordMs(this.latency, latencyMs);
  }

  toJSON(): ReleaseStatsJson {
    return {
      requests: this.requests,
      status: { '1xx': this.s1xx, '2xx': this.s2xx, '3xx': this.s3xx, '4xx': this.s4xx, '5xx': this.s5xx },
      upstreamErrors: this.upstreamErrors,
      timeouts: this.timeouts,
      retries: this.retries,
      ejections: this.ejections,
      latency: cloneHistogram(this.latency),
    };
  }
}

/** Per environment: the counters of each release ever routed to, kept for the router's life. */
export class EnvCounters {
  unrouted = 0;
  private readonly releases = new Map<string, ReleaseCounters>();

  release(name: string): ReleaseCounters {
    let c = this.releases.get(name);
    if (c === undefined) {
      c = new ReleaseCounters();
      this.releases.set(name, c);
    }
    return c;
  }

  toJSON(): Record<string, ReleaseStatsJson> {
    const out: Record<string, ReleaseStatsJson> = {};
    for (const [name, c] of this.releases) out[name] = c.toJSON();
    return out;
  }
}

export class RouterStats {
  readonly startedAt = new Date().toISOString();
  private readonly envs = new Map<string, EnvCounters>();

  env(name: string): EnvCounters {
    let e = this.envs.get(name);
    if (e === undefined) {
      e = new EnvCounters();
      this.envs.set(name, e);
    }
    return e;
  }

  toJSON(backends: Record<string, BackendStatsJson>): RouterStatsJson {
    const environments: RouterStatsJson['environments'] = {};
    const unrouted: RouterStatsJson['unrouted'] = {};
    for (const [name, e] of this.envs) {
      environments[name] = e.toJSON();
      unrouted[name] = e.unrouted;
    }
    return { startedAt: this.startedAt, environments, unrouted, backends };
  }
}
