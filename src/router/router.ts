// The router's state in one process: the current route table, the backends and their
// pools, one listener per environment and the counters. Tables are applied one at a
// time, in order; a table is persisted before it is applied, so what routes.json
// says is never behind what the router does. Each environment's routes are applied
// on their own: a listener that cannot open (address in use, or named twice in the
// table) is that environment's reported error, and every other one serves.

import { EMPTY_ROUTE_TABLE, routeTableDigest, type RouteTable, type RouteTableHead } from './route-table.ts';
import { EnvListener, type ListenerStatus } from './env-listener.ts';
import { claimListenAddresses } from './listen-claims.ts';
import { PassiveHealth, type HealthLog, type PassiveHealthOptions } from './passive-health.ts';
import type { EnvRoute } from './env-route.ts';
import { resolveProxySettings } from './proxy-settings.ts';
import { RouterStats, type RouterStatsJson } from './router-stats.ts';
import { UpstreamRegistry } from './upstream-registry.ts';
import { DEFAULT_POOL_OPTIONS, type Upstream, type UpstreamPoolOptions } from './upstream.ts';
import { WeightedPicker } from './weighted-picker.ts';

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
  private readonly listeners = new Map<string, EnvListener>();
  /** Listener key → why it is not opened: another listener of the table has its address. */
  private refused = new Map<string, ListenerStatus>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly closeGraceMs: number;
  private readonly retryTimer: NodeJS.Timeout;
  private readonly health: PassiveHealth;
  private readonly healthTimer: NodeJS.Timeout;

  constructor(options: RouterOptions = {}) {
    this.upstreams = new UpstreamRegistry(this.stats, { ...DEFAULT_POOL_OPTIONS, ...options.pool });
    this.closeGraceMs = options.closeGraceMs ?? 30_000;
    this.retryTimer = setInterval(() => void this.serially(() => this.openListeners()), options.listenRetryMs ?? 5_000);
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
    const wanted = new Set<string>();
    for (const [env, routes] of Object.entries(table.environments)) {
      const byRelease = byEnv.get(env) ?? new Map<string, Upstream[]>();
      const groups = [...byRelease].map(([release, backends]) => ({ release, weight: routes.weights[release] ?? 0, backends }));
      const route = this.route(env);
      const proxy = resolveProxySettings(routes.proxy);
      route.picker = new WeightedPicker(groups, isUsable);
      route.sticky = routes.sticky ?? null;
      route.proxy = proxy;
      wanted.add(env);
      if (routes.preview) {
        // The preview listener sends everything to one release, whatever the weights say.
        const preview = this.route(previewKey(env));
        preview.picker = new WeightedPicker([{ release: routes.preview.release, weight: 100, backends: byRelease.get(routes.preview.release) ?? [] }], isUsable);
        preview.proxy = proxy;
        wanted.add(previewKey(env));
      }
    }
    for (const [key, route] of this.routes) {
      if (!wanted.has(key)) {
        route.picker = new WeightedPicker<Upstream>([]);
        route.sticky = null;
      }
    }
    this.table = table;
    this.tableDigest = routeTableDigest(table);
    this.hasTable = true;
    await this.closeListeners(table);
    await this.openListeners();
    return this.listenerStatus();
  }

  private route(env: string): EnvRoute {
    let r = this.routes.get(env);
    if (r === undefined) {
      r = { name: env, picker: new WeightedPicker<Upstream>([]), sticky: null, proxy: resolveProxySettings(undefined), counters: this.stats.env(env), health: this.health };
      this.routes.set(env, r);
    }
    return r;
  }

  /** Closes listeners of removed environments and of those whose address changed; the ports are free on return. */
  private async closeListeners(table: RouteTable): Promise<void> {
    const wanted = wantedListeners(table);
    for (const [key, l] of this.listeners) {
      if (wanted.get(key) === l.listen) continue;
      this.listeners.delete(key);
      // close() frees the port synchronously; the wait for requests in flight runs on.
      void l.close(this.closeGraceMs);
    }
  }

  /**
   * Opens every listener the table wants that is not listening yet (new, or failed
   * before), except those whose address another listener of the table holds.
   */
  private async openListeners(): Promise<void> {
    const serving = new Map([...this.listeners].filter(([, l]) => l.listening).map(([key, l]) => [key, l.listen]));
    const claims = claimListenAddresses(wantedListeners(this.table), serving);
    this.refused = new Map();
    for (const [key, { listen, heldBy }] of claims.refused) {
      // Never listening (it would have been granted): nothing to close, only to forget.
      this.listeners.delete(key);
      this.refused.set(key, { listen, listening: false, error: `cannot listen on ${listen}: ${describeKey(heldBy)} listens there; give ${describeKey(key)} an address of its own` });
    }
    const opening: Promise<void>[] = [];
    for (const [key, listen] of claims.granted) {
      let l = this.listeners.get(key);
      if (l === undefined) {
        l = new EnvListener(this.route(key), listen);
        this.listeners.set(key, l);
      }
      if (!l.listening) opening.push(l.open());
    }
    await Promise.all(opening);
  }

  listenerStatus(): Record<string, ListenerStatus> {
    const out: Record<string, ListenerStatus> = {};
    for (const [env, l] of this.listeners) out[env] = l.status();
    for (const [env, s] of this.refused) out[env] = { ...s };
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
    const all = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all([...all.map((l) => l.close(graceMs)), this.upstreams.waitUpgradedClosed(graceMs)]);
    await this.upstreams.destroyAll();
  }
}

function isUsable(u: Upstream): boolean {
  return u.health.isUsable;
}

/** The preview listener of an environment is keyed apart from its main one. */
export function previewKey(env: string): string {
  return `${env}:preview`;
}

function describeKey(key: string): string {
  return key.endsWith(':preview') ? `the preview listener of environment "${key.slice(0, -':preview'.length)}"` : `environment "${key}"`;
}

/** listener key → address, for every listener a table wants, in table order. */
function wantedListeners(table: RouteTable): Map<string, string> {
  const out = new Map<string, string>();
  for (const [env, routes] of Object.entries(table.environments)) {
    out.set(env, routes.listen);
    if (routes.preview) out.set(previewKey(env), routes.preview.listen);
  }
  return out;
}
