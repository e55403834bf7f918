// The router's state in one process: the current route table, the backends and their
// pools, one listener per address (one environment's, or several split by host) and
// the counters. Tables are applied one at a time, in order; a table is persisted
// before it is applied, so what routes.json says is never behind what the router
// does. Each environment's routes are applied on their own: a listener that cannot
// open (address in use, or named twice in the table by environments that may not
// share it, or a host claimed twice) is that environment's reported error, and
// every other one serves.

import { EMPTY_ROUTE_TABLE, listenPort, routeTableDigest, type RouteTable, type RouteTableHead } from './route-table.ts';
import { AddressListener, type ListenerStatus } from './address-listener.ts';
import { HostRoutes, type ListenerMember } from './host-routes.ts';
import { claimListenAddresses, type ListenerWant, type ListenClaims } from './listen-claims.ts';
import { PassiveHealth, type HealthLog, type PassiveHealthOptions } from './passive-health.ts';
import type { EnvRoute } from './env-route.ts';
import { resolveProxySettings, type EnvProxy } from './proxy-settings.ts';
import type { ProxyProtocolSettings } from './proxy-protocol-listener.ts';
import { RouterStats, type RouterStatsJson } from './router-stats.ts';
import { UpstreamRegistry } from './upstream-registry.ts';
import { DEFAULT_POOL_OPTIONS, type Upstream, type UpstreamPoolOptions } from './upstream.ts';
import { WeightedPicker } from './weighted-picker.ts';
import { AnonymiseWorker, type AnonymiseOptions } from './shadow/anonymise-worker.ts';
import { ReplayRecorder } from './shadow/replay-recorder.ts';
import { applyShadow } from './shadow/shadow-mirror.ts';
import { maintenanceAnswers, TrafficHold, type HoldSlots } from './traffic-hold.ts';
import { CertificateSet, type CertificateCache } from './tls/certificate-set.ts';
import type { TlsRoutes } from './tls/tls-routes.ts';

export interface RouterOptions {
  pool?: Partial<UpstreamPoolOptions>;
  /** How long a closing listener lets requests in flight finish. */
  closeGraceMs?: number;
  /** How often listeners that failed to open are tried again. */
  listenRetryMs?: number;
  /** Passive health's knobs (docs/config.md, "Passive health in the router"); tests shorten them. */
  passiveHealth?: Partial<PassiveHealthOptions>;
  /** Where ejections and returns are told (router.log); silent when absent. */
  log?: HealthLog;
  /** In a router worker: the pause queue limit shared with the other workers, per environment. */
  holdSlots?: (env: string) => HoldSlots;
  /** In a router worker: where a recorded request's line goes (to the keeper, which writes it); absent: nothing is recorded. */
  record?: (env: string, line: string) => void;
  /** How recorded requests are anonymised off the event loop (shadow/anonymise-worker.ts); tests shorten its budget. */
  anonymise?: Partial<AnonymiseOptions>;
}

/** When the router stops, how long idle kept-alive connections may still send a request (answered with Connection: close). */
const IDLE_CLOSE_DELAY_MS = 1_000;

/** How often waiting requests are checked for a stall: the ejection delay is the stall threshold plus up to this. */
const HEALTH_SWEEP_MS = 100;

export type PutTableResult =
  | { ok: true; version: number; listeners: Record<string, ListenerStatus> }
  | { ok: false; reason: 'stale-version'; currentVersion: number };

export class Router {
  private table: RouteTable = EMPTY_ROUTE_TABLE;
  /** The digest of `table`, made once per applied table: the server asks for it every second. */
  private tableDigest = routeTableDigest(EMPTY_ROUTE_TABLE);
  private hasTable = false;
  readonly stats = new RouterStats();
  private readonly upstreams: UpstreamRegistry;
  /** Kept for the router's life (not per table), so counters and pickers survive re-applies. */
  private readonly routes = new Map<string, EnvRoute>();
  /** The listeners the table wants, in table order: environments' and their previews'. */
  private wants: ListenerWant[] = [];
  /** How each want is routed on its listener (its hosts and path prefix). */
  private members = new Map<string, ListenerMember>();
  /** Listener id (listen-claims.ts) → its listener. */
  private readonly listeners = new Map<string, AddressListener>();
  /** Listener id → the keys it serves, as last granted. */
  private served = new Map<string, string[]>();
  /** Key → why it has no listener: another of the table has its address, or its host there. */
  private refused = new Map<string, ListenerStatus>();
  /** Key → its TLS routes: an environment's certificates (its listener speaks TLS), or its plain-HTTP side's challenges. */
  private tlsOf = new Map<string, TlsRoutes>();
  /** Key → the proxy settings of a front-door listener (`listen`, `tls.http_listen`), whose PROXY protocol it reads; not previews. */
  private frontDoorProxy = new Map<string, EnvProxy>();
  private readonly log: HealthLog | undefined;
  /** Secure contexts by certificate and key, kept while a table names them. */
  private readonly certCache: CertificateCache = new Map();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly closeGraceMs: number;
  private readonly holdSlots: ((env: string) => HoldSlots) | undefined;
  private readonly record: ((env: string, line: string) => void) | undefined;
  /** The thread recorded requests are anonymised on, started with the first one. */
  private readonly anonymiser: AnonymiseWorker;
  private readonly retryTimer: NodeJS.Timeout;
  private readonly health: PassiveHealth;
  private readonly healthTimer: NodeJS.Timeout;

  constructor(options: RouterOptions = {}) {
    this.upstreams = new UpstreamRegistry(this.stats, { ...DEFAULT_POOL_OPTIONS, ...options.pool });
    this.closeGraceMs = options.closeGraceMs ?? 30_000;
    this.holdSlots = options.holdSlots;
    this.log = options.log;
    this.record = options.record;
    this.anonymiser = new AnonymiseWorker(options.log, options.anonymise);
    this.retryTimer = setInterval(() => void this.serially(() => this.arrangeListeners()), options.listenRetryMs ?? 5_000);
    this.retryTimer.unref();
    const upstreams = this.upstreams;
    this.health = new PassiveHealth({ peers: (env) => upstreams.liveIn(env), log: options.log, options: options.passiveHealth });
    this.healthTimer = setInterval(() => this.health.sweep(upstreams.liveBackends(), performance.now()), HEALTH_SWEEP_MS);
    this.healthTimer.unref();
  }

  get currentTable(): RouteTable {
    return this.table;
  }

  get currentHead(): RouteTableHead {
    return { version: this.table.version, digest: this.tableDigest };
  }

  /**
   * Refuses a table older than the current one (an equal version is re-applied, so a
   * server that crashed mid-push can simply push again), persists it, then applies it.
   */
  putTable(table: RouteTable, persist: (t: RouteTable) => Promise<void>): Promise<PutTableResult> {
    return this.serially(async () => {
      if (table.version < this.table.version) {
        return { ok: false, reason: 'stale-version', currentVersion: this.table.version } as const;
      }
      await persist(table);
      const listeners = await this.apply(table);
      return { ok: true, version: table.version, listeners } as const;
    });
  }

  /**
   * Applies the table read back from routes.json at start, without persisting it
   * again. Skipped (returns null) when the server already pushed a table meanwhile:
   * that one is newer than anything on disk.
   */
  restoreTable(table: RouteTable): Promise<Record<string, ListenerStatus> | null> {
    return this.serially(async () => (this.hasTable ? null : this.apply(table)));
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => {});
    return run;
  }

  private async apply(table: RouteTable): Promise<Record<string, ListenerStatus>> {
    const byEnv = this.upstreams.reconcile(table);
    const wants: ListenerWant[] = [];
    const members = new Map<string, ListenerMember>();
    const tlsOf = new Map<string, TlsRoutes>();
    const frontDoorProxy = new Map<string, EnvProxy>();
    for (const [env, routes] of Object.entries(table.environments)) {
      const byRelease = byEnv.get(env) ?? new Map<string, Upstream[]>();
      const groups = [...byRelease].map(([release, backends]) => ({ release, weight: routes.weights[release] ?? 0, backends }));
      const route = this.route(env);
      const proxy = resolveProxySettings(routes.proxy);
      route.picker = new WeightedPicker(groups, isUsable);
      route.sticky = routes.sticky ?? null;
      route.proxy = proxy;
      route.maintenance = routes.maintenance ? maintenanceAnswers(routes.maintenance) : null;
      // After the picker: requests a lifted pause releases go to this table's backends.
      route.hold.update(routes.hold ?? null);
      route.shadow = applyShadow(route.counters, routes.shadow, byRelease);
      const record = this.record;
      route.recorder = routes.record && record
        ? new ReplayRecorder({ spec: routes.record, env, anonymiser: this.anonymiser, sink: (line) => record(env, line), counts: route.counters.startRecording() })
        : null;
      const pathPrefix = routes.pathPrefix ?? null;
      wants.push({ key: env, listen: routes.listen, ...(routes.hosts ? { hosts: routes.hosts } : {}), ...(pathPrefix ? { pathPrefix: pathPrefix.path } : {}) });
      members.set(env, { route, hosts: routes.hosts ?? null, pathPrefix });
      frontDoorProxy.set(env, proxy);
      if (routes.tls) {
        tlsOf.set(env, routes.tls);
        if (routes.tls.httpListen !== undefined) {
          // The plain-HTTP side: the same hosts and prefix, served as the environment or redirected to https.
          const http = routes.tls.redirectHttp ? this.route(httpKey(env)) : route;
          if (routes.tls.redirectHttp) http.httpsRedirect = { environment: route, listen: routes.listen, httpsPort: this.httpsPortOf(env, routes.listen) };
          wants.push({ key: httpKey(env), listen: routes.tls.httpListen, ...(routes.hosts ? { hosts: routes.hosts } : {}), ...(pathPrefix ? { pathPrefix: pathPrefix.path } : {}) });
          members.set(httpKey(env), { route: http, hosts: routes.hosts ?? null, pathPrefix });
          frontDoorProxy.set(httpKey(env), proxy);
          tlsOf.set(httpKey(env), routes.tls);
        }
      }
      if (routes.preview) {
        // The preview listener sends everything to one release, whatever the weights
        // or the host say; never shared, but through the same path prefix, so that a
        // preview answers the URLs production will.
        const preview = this.route(previewKey(env));
        preview.picker = new WeightedPicker([{ release: routes.preview.release, weight: 100, backends: byRelease.get(routes.preview.release) ?? [] }], isUsable);
        preview.proxy = proxy;
        wants.push({ key: previewKey(env), listen: routes.preview.listen });
        members.set(previewKey(env), { route: preview, hosts: null, pathPrefix });
      }
    }
    for (const [key, route] of this.routes) {
      if (!members.has(key)) {
        route.picker = new WeightedPicker<Upstream>([]);
        route.sticky = null;
        route.maintenance = null;
        route.shadow = applyShadow(route.counters, undefined, new Map());
        route.recorder = null;
        route.hold.update(null);
      }
    }
    this.table = table;
    this.tableDigest = routeTableDigest(table);
    this.hasTable = true;
    this.wants = wants;
    this.members = members;
    this.tlsOf = tlsOf;
    this.frontDoorProxy = frontDoorProxy;
    await this.arrangeListeners();
    this.pruneCertCache();
    return this.listenerStatus();
  }

  private route(env: string): EnvRoute {
    let r = this.routes.get(env);
    if (r === undefined) {
      r = { name: env, picker: new WeightedPicker<Upstream>([]), sticky: null, proxy: resolveProxySettings(undefined), counters: this.stats.env(env), health: this.health, maintenance: null, hold: new TrafficHold(Date.now, this.holdSlots?.(env) ?? null) };
      this.routes.set(env, r);
    }
    return r;
  }

  /**
   * Gives each listener the table wants to whom it belongs (listen-claims.ts), then
   * closes the listeners no one has any more (their ports are free on return),
   * swaps the routes of those that stay, and opens the new ones and those that
   * failed before. Run for each table and by the retry timer.
   */
  private async arrangeListeners(): Promise<void> {
    const serving = new Map<string, string>();
    for (const [id, keys] of this.served) {
      if (this.listeners.get(id)?.listening) for (const key of keys) serving.set(key, id);
    }
    const claims = claimListenAddresses(this.wants, serving);
    for (const [id, l] of this.listeners) {
      if (claims.granted.has(id)) continue;
      this.listeners.delete(id);
      // close() frees the port synchronously; the wait for requests in flight runs on.
      void l.close(this.closeGraceMs);
    }
    this.refused = refusedStatus(claims, this.wants);
    this.served = new Map();
    const opening: Promise<void>[] = [];
    for (const [id, { listen, keys }] of claims.granted) {
      const routes = new HostRoutes(keys.map((key) => this.members.get(key)!));
      const certificates = this.certificatesFor(keys);
      let l = this.listeners.get(id);
      if (l !== undefined && l.isTls !== (certificates !== null)) {
        // HTTP became HTTPS or back: a new server on the same address (the port is free once close() returns).
        void l.close(this.closeGraceMs);
        l = undefined;
      }
      if (l === undefined) {
        l = new AddressListener({ listen, routes, counters: this.stats.listener(listen), certificates, log: this.log });
        this.listeners.set(id, l);
      } else {
        l.routes = routes;
        l.certificates = certificates;
      }
      l.proxyProtocol = this.proxyProtocolFor(keys);
      l.challenges = this.challengesFor(keys);
      this.served.set(id, keys);
      if (!l.listening) opening.push(l.open());
    }
    await Promise.all(opening);
  }

  /**
   * The certificates of a listener's environments, in table order (the first is the
   * default); null when none of them has tls: (a plain-HTTP listener). An
   * environment without tls: on a TLS listener is served over TLS too.
   */
  private certificatesFor(keys: readonly string[]): CertificateSet | null {
    const tlsKeys = keys.filter((k) => !isHttpKey(k) && this.tlsOf.has(k));
    if (tlsKeys.length === 0) return null;
    return new CertificateSet(tlsKeys.flatMap((k) => this.tlsOf.get(k)!.certificates), this.certCache, tlsKeys.flatMap((k) => Object.entries(this.tlsOf.get(k)!.alpnChallenges ?? {})));
  }

  /**
   * Whether a listener reads PROXY protocol headers: if any of its front-door
   * environments asks for it, the versions any of them reads, from the peers any of
   * them trusts (the header comes before the request names its host). A preview
   * listener never does: it is reached directly, to check a colour.
   */
  private proxyProtocolFor(keys: readonly string[]): ProxyProtocolSettings | null {
    const asking = keys.map((k) => this.frontDoorProxy.get(k)).filter((p): p is EnvProxy => p !== undefined && p.proxyProtocol !== null);
    if (asking.length === 0) return null;
    const modes = new Set(asking.map((p) => p.proxyProtocol));
    const mode = modes.size === 1 ? asking[0]!.proxyProtocol! : 'any';
    if (asking.length === 1) return { mode, isTrusted: asking[0]!.isTrusted };
    return { mode, isTrusted: (peer) => asking.some((p) => p.isTrusted(peer)) };
  }

  /**
   * The https port redirect_http names: the one `listen` gives, or for port 0 the
   * one its listener bound, read at each request (the listener may open after the
   * plain one, or move when it reopens).
   */
  private httpsPortOf(env: string, listen: string): () => number | null {
    const port = listenPort(listen);
    if (port !== 0) return () => port;
    return () => {
      for (const [id, keys] of this.served) if (keys.includes(env)) return this.listeners.get(id)?.boundPort ?? null;
      return null;
    };
  }

  private challengesFor(keys: readonly string[]): Map<string, string> {
    const out = new Map<string, string>();
    for (const k of keys) if (isHttpKey(k)) for (const [token, auth] of Object.entries(this.tlsOf.get(k)?.challenges ?? {})) out.set(token, auth);
    return out;
  }

  private pruneCertCache(): void {
    const used = new Set([...this.tlsOf.values()].flatMap((t) => t.certificates.map((c) => `${c.cert}\0${c.key}`)));
    for (const k of this.certCache.keys()) if (!used.has(k)) this.certCache.delete(k);
  }

  /** Per environment (and `<env>:preview`): its listener's state, with the address it asked for. */
  listenerStatus(): Record<string, ListenerStatus> {
    const out: Record<string, ListenerStatus> = {};
    const asked = new Map(this.wants.map((w) => [w.key, w.listen]));
    for (const [id, keys] of this.served) {
      const status = this.listeners.get(id)?.status();
      if (status !== undefined) for (const key of keys) out[key] = { ...status, listen: asked.get(key) ?? status.listen };
    }
    for (const [key, s] of this.refused) out[key] = { ...s };
    return out;
  }

  /** Requests in flight to a backend, and its upgraded connections: a drain waits for both. */
  inflight(backendId: string): { requests: number; upgraded: number } {
    return this.upstreams.inflight(backendId);
  }

  /**
   * The server will stop this backend's instance in `timeoutMs` (it left the table):
   * its upgraded connections are closed by then. A backend still in the table is
   * not touched.
   */
  drainWithin(backendId: string, timeoutMs: number): { requests: number; upgraded: number } {
    this.upstreams.drainWithin(backendId, timeoutMs);
    return this.upstreams.inflight(backendId);
  }

  statsJson(): RouterStatsJson {
    return this.stats.toJSON(this.upstreams.toJSON());
  }

  /**
   * Stops accepting on every listener, lets requests in flight and upgraded
   * connections finish (≤ graceMs), then cuts what is left and closes the pools.
   */
  async close(graceMs = this.closeGraceMs): Promise<void> {
    clearInterval(this.retryTimer);
    clearInterval(this.healthTimer);
    // Held requests go on to their backends and finish with the others.
    for (const route of this.routes.values()) route.hold.release();
    const all = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all([...all.map((l) => l.close(graceMs, { idleCloseDelayMs: IDLE_CLOSE_DELAY_MS })), this.upstreams.waitUpgradedClosed(graceMs)]);
    await this.upstreams.destroyAll();
    await this.anonymiser.close();
  }
}

function isUsable(u: Upstream): boolean {
  return u.health.isUsable;
}

/** The plain-HTTP listener of a TLS environment (tls.httpListen). */
export function httpKey(env: string): string {
  return `${env}:http`;
}

function isHttpKey(key: string): boolean {
  return key.endsWith(':http');
}

/** The preview listener of an environment is keyed apart from its main one. */
export function previewKey(env: string): string {
  return `${env}:preview`;
}

function describeKey(key: string): string {
  if (isHttpKey(key)) return `the plain-HTTP listener (tls.http_listen) of environment "${key.slice(0, -':http'.length)}"`;
  return key.endsWith(':preview') ? `the preview listener of environment "${key.slice(0, -':preview'.length)}"` : `environment "${key}"`;
}

/** What each refused listener reports: who has its address, or its host and path there. */
function refusedStatus(claims: ListenClaims, wants: readonly ListenerWant[]): Map<string, ListenerStatus> {
  const out = new Map<string, ListenerStatus>();
  for (const [key, { listen, heldBy, clash }] of claims.refused) {
    const error = clash.kind === 'route'
      ? `cannot route host ${clash.host} with path prefix ${clash.pathPrefix} on ${listen}: ${describeKey(heldBy)} has it there; give ${describeKey(key)} other hosts or another path_prefix`
      : `cannot listen on ${listen}: ${describeKey(heldBy)} listens there; give ${describeKey(key)} an address of its own${sharingHint(key, heldBy, wants)}`;
    out.set(key, { listen, listening: false, error });
  }
  return out;
}

/** Two environments on one address could share it by host; say so unless one is a preview listener. */
function sharingHint(key: string, heldBy: string, wants: readonly ListenerWant[]): string {
  if (key.endsWith(':preview') || heldBy.endsWith(':preview')) return '';
  const without = [key, heldBy].filter((k) => !wants.find((w) => w.key === k)?.hosts);
  return without.length === 0 ? '' : `, or name hosts: in both to share it (${without.map((k) => `"${k}"`).join(' and ')} names none)`;
}
