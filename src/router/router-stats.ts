// Cumulative counters since the router started: per environment per release (what
// analysis reads, as deltas between two snapshots) and per backend (what draining
// reads). The proxy bumps plain fields on objects it already holds; the JSON shape
// below is built only when someone asks for /stats.

import { createHistogram, recordMs, cloneHistogram, type LatencyHistogram } from '../core/latency-histogram.ts';
import type { ShadowStatsJson } from '../core/shadow/shadow-spec.ts';
import type { NotKept } from './shadow/anonymise-worker.ts';
import type { KeeperOutcome } from './shadow/replay-store.ts';
import type { ShadowRun } from './shadow/shadow-counters.ts';

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
  /** Request arrival to response end, in milliseconds; ordinary requests only (not streams, not upgraded connections). */
  latency: LatencyHistogram;
  /**
   * Event streams (2xx text/event-stream answers): long-lived by design, so left out
   * of requests, status and latency, where six open ones would make a p99 of minutes.
   */
  streams: { opened: number; open: number; errors: number };
  /** Upgraded connections (WebSockets, 101 answers), likewise left out of requests, status and latency. */
  upgraded: UpgradedStatsJson;
  /**
   * Requests that took longer than the environment's proxy.long_request (a long poll,
   * a big download): in `requests` and `status` like the others, so their errors
   * count, but not in `latency`, where a poll answered after 40 s by design would
   * fail a p99 limit. `errors`: answered 5xx, or cut mid-body by the backend.
   */
  long: { requests: number; errors: number };
}

export interface UpgradedStatsJson {
  opened: number;
  open: number;
  /** Closed by a socket error on either side. */
  errors: number;
  /** Closed by the router: idle past proxy.idle_timeout, still open at its backend's drain deadline, or at router shutdown. */
  cut: number;
}

/** Requests the router answered itself because a limit was hit (none reached a backend's counters). */
export type RefusalLimit = 'max_body' | 'idle_timeout' | 'max_header_size' | 'bad_request';

export interface BackendStatsJson {
  /** Requests in flight, event streams included (upgraded connections are in `upgraded`). */
  inflight: number;
  /** Upgraded connections (WebSockets) open now; a drain waits for them as for inflight. */
  upgraded: number;
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
  /** environment → requests the router answered or held itself (maintenance, pause-traffic; traffic-gate.ts). */
  gated: Record<string, GatedStatsJson>;
  /** environment → limit → requests the router refused for it (413, 408, 431, 400). */
  refused: Record<string, Record<RefusalLimit, number>>;
  /** Backends in the table, and removed ones until their inflight reaches 0. */
  backends: Record<string, BackendStatsJson>;
  /** listen address → requests its listener answered itself, belonging to no environment. */
  listeners: Record<string, ListenerStatsJson>;
  /** environment → its last shadow step's figures (shadow/shadow-counters.ts); absent from routers before shadowing. */
  shadow?: Record<string, ShadowStatsJson>;
  /**
   * environment → what became of the requests picked for replay's sample
   * (shadow/replay-recorder.ts), for environments that have recorded since the
   * router started; absent from routers before these counts.
   */
  recorded?: Record<string, RecordedCounts>;
}

/**
 * What became of a request picked for recording. Its worker counts it too_large (a
 * body over record.max_body, or any body with bodies off) or one of the anonymising
 * thread's reasons, or counts it kept when it hands the line on (into its batch for
 * the keeper). The keeper counts each line it receives by its fate (KeeperOutcome:
 * kept once written, or why not), and its /stats puts those counts in place of the
 * workers' kept (withKeeperOutcomes). A keeper from before its counts, which outlives
 * an upgrade of the workers' code, still answers the workers' kept.
 */
export type RecordOutcome = WorkerRecordOutcome | KeeperOutcome;
export type WorkerRecordOutcome = 'kept' | 'too_large' | NotKept;

/** An environment's counts: a worker's (or a keeper's from before its own) have no keeper-only outcome. */
export type RecordedCounts = Record<WorkerRecordOutcome, number> & Partial<Record<KeeperOutcome, number>>;

const noWorkerOutcomes = (): Record<WorkerRecordOutcome, number> => ({ kept: 0, too_large: 0, not_text: 0, too_slow: 0, queue_full: 0, thread_failed: 0 });

/**
 * The workers' counts of recorded requests (summed, exited workers' included) with
 * the keeper's in place of their kept: every line a worker handed on is counted once,
 * by the keeper, including one lost on its way (in a killed worker's batch), which
 * the workers' kept would count and nothing wrote. Undefined when the workers sent no
 * such counts (workers from before them) and the keeper has none.
 */
export function withKeeperOutcomes(
  workers: RouterStatsJson['recorded'],
  keeper: Readonly<Record<string, Readonly<Record<KeeperOutcome, number>>>>,
): Record<string, Record<RecordOutcome, number>> | undefined {
  const envs = new Set([...Object.keys(workers ?? {}), ...Object.keys(keeper)]);
  if (workers === undefined && envs.size === 0) return undefined;
  const out: Record<string, Record<RecordOutcome, number>> = {};
  for (const env of envs) {
    const c: Record<RecordOutcome, number> = { ...noWorkerOutcomes(), ...workers?.[env], kept: 0, dropped_overflow: 0, dropped_stopped: 0, dropped_write_failed: 0 };
    for (const [outcome, n] of Object.entries(keeper[env] ?? {}) as [KeeperOutcome, number][]) c[outcome] += n;
    out[env] = c;
  }
  return out;
}

export interface GatedStatsJson {
  /** Answered 503 because the environment was in maintenance. */
  maintenance: number;
  /** Held by a traffic pause (then sent on, when their clients were still there). */
  held: number;
  /** Answered 503 because the pause's queue was full. */
  holdQueueFull: number;
}

export interface ListenerStatsJson {
  /** 404: no environment there names the request's host. */
  unknownHost: number;
  /** 404: no environment of its host takes its path. */
  unknownPath: number;
  /** 308 to https: plain HTTP to a TLS environment with redirect_http (a client or link still on http://). */
  redirected: number;
  /** Requests node could not parse (400, 431, 408) on a listener of several environments, so of none. */
  refused: Record<RefusalLimit, number>;
  /** Connections by their PROXY protocol header, on a listener that reads one (all 0 on the others). */
  proxyProtocol: ProxyProtocolStatsJson;
}

export interface ProxyProtocolStatsJson {
  /** Served as from the client the header named. */
  accepted: number;
  /** Served as from the peer itself: a header naming no client (v1 UNKNOWN, v2 LOCAL: the balancer's health checks). */
  local: number;
  /** Closed: a header from a peer not in proxy.trust_forwarded. */
  untrusted: number;
  /** Closed: a header that breaks the protocol, or of a version the listener does not read. */
  invalid: number;
  /** Closed: no header, nor any byte, within 10 s of the connection. */
  timeout: number;
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
  streamsOpened = 0;
  streamsClosed = 0;
  streamErrors = 0;
  upgradesOpened = 0;
  upgradesClosed = 0;
  upgradeErrors = 0;
  upgradesCut = 0;
  longRequests = 0;
  longErrors = 0;

  /** Counts one answered request; the hot path's only stats call. */
  record(statusCode: number, latencyMs: number): void {
    this.countAnswer(statusCode);
    recordMs(this.latency, latencyMs);
  }

  /** Counts one request past proxy.long_request: in requests and status, not in latency. */
  recordLong(statusCode: number, hasFailed: boolean): void {
    this.countAnswer(statusCode);
    this.longRequests++;
    if (hasFailed || statusCode >= 500) this.longErrors++;
  }

  private countAnswer(statusCode: number): void {
    this.requests++;
    if (statusCode < 300) {
      if (statusCode >= 200) this.s2xx++;
      else this.s1xx++;
    } else if (statusCode < 400) this.s3xx++;
    else if (statusCode < 500) this.s4xx++;
    else this.s5xx++;
  }

  /** An event stream ended; `hasFailed` when cut by the backend or a timeout (not by a client that left). */
  recordStreamEnd(hasFailed: boolean): void {
    this.streamsClosed++;
    if (hasFailed) this.streamErrors++;
  }

  recordUpgradeEnd(how: 'closed' | 'error' | 'cut'): void {
    this.upgradesClosed++;
    if (how === 'error') this.upgradeErrors++;
    else if (how === 'cut') this.upgradesCut++;
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
      streams: { opened: this.streamsOpened, open: this.streamsOpened - this.streamsClosed, errors: this.streamErrors },
      upgraded: { opened: this.upgradesOpened, open: this.upgradesOpened - this.upgradesClosed, errors: this.upgradeErrors, cut: this.upgradesCut },
      long: { requests: this.longRequests, errors: this.longErrors },
    };
  }
}

/** A release's counters outlive its last route by this long, so the server's last samples of it are complete. */
export const KEEP_UNROUTED_RELEASE_MS = 10 * 60_000;

/** Per environment: the counters of each release routed to in the last KEEP_UNROUTED_RELEASE_MS. */
export class EnvCounters {
  unrouted = 0;
  maintenance = 0;
  held = 0;
  holdQueueFull = 0;
  readonly refused: Record<RefusalLimit, number> = { max_body: 0, idle_timeout: 0, max_header_size: 0, bad_request: 0 };
  /** The figures of the environment's last shadow step (one run at a time). */
  shadow: ShadowRun | null = null;
  /** Requests picked for recording, by what became of them; null until the environment first records, so one that never did reports none. */
  recorded: Record<WorkerRecordOutcome, number> | null = null;
  private readonly releases = new Map<string, ReleaseCounters>();
  /** Release → when it was last in the route table (or still finishing requests). */
  private readonly routedAt = new Map<string, number>();

  /**
   * Notes which releases are routed now and forgets those unrouted for longer than
   * KEEP_UNROUTED_RELEASE_MS: a router that sees a deploy every few minutes for
   * weeks would otherwise keep (and send with every /stats) one set per release. A
   * release routed again later starts from zero, which the server reads as a restart.
   */
  noteRouted(releases: Iterable<string>, now: number): void {
    for (const name of releases) this.routedAt.set(name, now);
    for (const name of this.releases.keys()) {
      const at = this.routedAt.get(name);
      if (at === undefined) this.routedAt.set(name, now);
      else if (now - at > KEEP_UNROUTED_RELEASE_MS) {
        this.releases.delete(name);
        this.routedAt.delete(name);
      }
    }
  }

  /** The counts this environment's recorders bump, made by the first: kept for the router's life, across tables. */
  startRecording(): Record<WorkerRecordOutcome, number> {
    this.recorded ??= noWorkerOutcomes();
    return this.recorded;
  }

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

/** Per listen address: what its listener answered itself, for a listener shared by host (or with a path prefix). */
export class ListenerCounters {
  unknownHost = 0;
  unknownPath = 0;
  redirected = 0;
  readonly refused: Record<RefusalLimit, number> = { max_body: 0, idle_timeout: 0, max_header_size: 0, bad_request: 0 };
  readonly proxyProtocol: ProxyProtocolStatsJson = { accepted: 0, local: 0, untrusted: 0, invalid: 0, timeout: 0 };

  toJSON(): ListenerStatsJson {
    return { unknownHost: this.unknownHost, unknownPath: this.unknownPath, redirected: this.redirected, refused: { ...this.refused }, proxyProtocol: { ...this.proxyProtocol } };
  }
}

export class RouterStats {
  readonly startedAt = new Date().toISOString();
  private readonly envs = new Map<string, EnvCounters>();
  private readonly listenerCounters = new Map<string, ListenerCounters>();

  listener(listen: string): ListenerCounters {
    let l = this.listenerCounters.get(listen);
    if (l === undefined) {
      l = new ListenerCounters();
      this.listenerCounters.set(listen, l);
    }
    return l;
  }

  /** env → the releases routed now; an environment left out (down or removed) has none. */
  noteRouted(routed: ReadonlyMap<string, ReadonlySet<string>>, now: number): void {
    for (const [name, e] of this.envs) e.noteRouted(routed.get(name) ?? [], now);
  }

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
    const refused: RouterStatsJson['refused'] = {};
    const gated: RouterStatsJson['gated'] = {};
    const shadow: NonNullable<RouterStatsJson['shadow']> = {};
    const recorded: NonNullable<RouterStatsJson['recorded']> = {};
    for (const [name, e] of this.envs) {
      if (e.shadow?.isExpired(Date.now())) e.shadow = null;
      if (e.shadow !== null) shadow[name] = e.shadow.toJSON();
      environments[name] = e.toJSON();
      unrouted[name] = e.unrouted;
      gated[name] = { maintenance: e.maintenance, held: e.held, holdQueueFull: e.holdQueueFull };
      refused[name] = { ...e.refused };
      if (e.recorded !== null) recorded[name] = { ...e.recorded };
    }
    const listeners: RouterStatsJson['listeners'] = {};
    for (const [listen, l] of this.listenerCounters) listeners[listen] = l.toJSON();
    return { startedAt: this.startedAt, environments, unrouted, gated, refused, backends, listeners, shadow, recorded };
  }
}
