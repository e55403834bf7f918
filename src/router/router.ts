// The router's state in one process: the current route table, the backends and their
// pools, each environment's route (picker, proxy settings, maintenance, pause,
// shadow and recording) and the counters; its listeners, one per address, are
// router-listeners.ts's. Tables are applied one at a time, in order; a table is
// persisted before it is applied, so what routes.json says is never behind what the
// router does. Each environment's routes are applied on their own: a listener that
// cannot open (address in use, or named twice in the table by environments that may
// not share it, or a host claimed twice) is that environment's reported error, and
// every other one serves.

import { EMPTY_ROUTE_TABLE, routeTableDigest, type RouteTable, type RouteTableHead } from './route-table.ts';
import type { ListenerStatus } from './address-listener.ts';
import type { ListenerMember } from './host-routes.ts';
import type { ListenerWant } from './listen-claims.ts';
import { PassiveHealth, type HealthLog, type PassiveHealthOptions } from './passive-health.ts';
import type { EnvRoute } from './env-route.ts';
import { resolveProxySettings, type EnvProxy } from './proxy-settings.ts';
import { httpKey, previewKey, RouterListeners } from './router-listeners.ts';
import { RouterStats, type RouterStatsJson } from './router-stats.ts';
import { UpstreamRegistry } from './upstream-registry.ts';
import { DEFAULT_POOL_OPTIONS, type Upstream, type UpstreamPoolOptions } from './upstream.ts';
import { WeightedPicker } from './weighted-picker.ts';
import { AnonymiseWorker, type AnonymiseOptions } from './shadow/anonymise-worker.ts';
import { ReplayRecorder } from './shadow/replay-recorder.ts';
import { applyShadow } from './shadow/shadow-mirror.ts';
import { maintenanceAnswers, TrafficHold, type HoldSlots } from './traffic-hold.ts';
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
  /** In a router worker: where a recorded request's line goes (to the keeper, which writes it); false: dropped (too many waiting). Absent: nothing is recorded. */
  record?: (env: string, line: string) => boolean;
  /** How recorded requests are anonymised off the event loop (shadow/anonymise-worker.ts); tests shorten its budget. */
  anonymise?: Partial<AnonymiseOptions>;
}

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
  /** One listener per address the table names (router-listeners.ts). */
  private readonly listeners: RouterListeners;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly closeGraceMs: number;
  private readonly holdSlots: ((env: string) => HoldSlots) | undefined;
  private readonly record: ((env: string, line: string) => boolean) | undefined;
  /** The thread recorded requests are anonymised on, started with the first one. */
  private readonly anonymiser: AnonymiseWorker;
  private readonly retryTimer: NodeJS.Timeout;
  private readonly health: PassiveHealth;
  private readonly healthTimer: NodeJS.Timeout;

  constructor(options: RouterOptions = {}) {
    this.upstreams = new UpstreamRegistry(this.stats, { ...DEFAULT_POOL_OPTIONS, ...options.pool });
    this.closeGraceMs = options.closeGraceMs ?? 30_000;
    this.holdSlots = options.holdSlots;
    this.listeners = new RouterListeners({ stats: this.stats, log: options.log, closeGraceMs: this.closeGraceMs });
    this.record = options.record;
    this.anonymiser = new AnonymiseWorker(options.log, options.anonymise);
    this.retryTimer = setInterval(() => void this.serially(() => this.listeners.arrange()), options.listenRetryMs ?? 5_000);
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
          if (routes.tls.redirectHttp) http.httpsRedirect = { environment: route, listen: routes.listen, httpsPort: this.listeners.httpsPortOf(env, routes.listen) };
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
    await this.listeners.apply({ wants, members, tlsOf, frontDoorProxy });
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

  /** Per environment (and `<env>:preview`): its listener's state, with the address it asked for. */
  listenerStatus(): Record<string, ListenerStatus> {
    return this.listeners.status();
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
    await Promise.all([this.listeners.close(graceMs), this.upstreams.waitUpgradedClosed(graceMs)]);
    await this.upstreams.destroyAll();
    await this.anonymiser.close();
  }
}

function isUsable(u: Upstream): boolean {
  return u.health.isUsable;
}
