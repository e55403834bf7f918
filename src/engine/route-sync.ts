// Derives the router's table from the store and pushes it. The table is a pure
// function of recorded state (ready instances, the environments' listen addresses),
// so pushing it again after a crash is always right.
//
// And checks that the router still runs what was pushed: a table rewritten behind
// the server's back (by someone holding the admin secret, a bug, a router restarted
// from an old routes.json) is sent again, and reported (see checkDrift).

import type { ReleaseRecord } from '../core/records.ts';
import { formatListen } from '../core/service-config.ts';
import type { FleetSet } from './fleet-set.ts';
import { currentStep, effectiveWeights, type Rollout } from '../core/rollout.ts';
import { routeTableDigest, type EnvRoutes, type RouteTable, type RouteTableHead, type RouterHeadAnswer } from '../router/route-table.ts';
import { redactTableKeys, type TlsRoutes } from '../router/tls/tls-routes.ts';
import type { StateStore } from '../store/state-store.ts';
import type { EngineLogger, TrafficRouter } from './ports.ts';

/** Which release's config decides the listen address: the one a rollout moves to, else the stable one. */
export function routingRelease(store: StateStore, env: string): ReleaseRecord | null {
  const active = store.activeRollout(env);
  const id = active ? active.toReleaseId : store.getStableReleaseId(env);
  return id === null ? null : store.getRelease(id);
}

/** Traffic shares by release id: the rollout's split among releases that serve, else in proportion to what serves. */
export function trafficWeights(store: StateStore, fleets: FleetSet, env: string): Record<string, number> {
  const routing = routingRelease(store, env);
  const serving = routing ? fleets.of(routing).serving(env) : {};
  return effectiveWeights(store.activeRollout(env)?.traffic ?? null, serving);
}

/** The router counts a shadow step's figures under this id: one per rollout and step. */
export function shadowRunId(r: Pick<Rollout, 'id' | 'stepIndex'>): string {
  return `${r.id}:${r.stepIndex}`;
}

/** An environment's tls: routes (its certificates, challenges), from engine/tls/tls-keeper.ts. */
export type TlsRoutesSource = (env: string, spec: ReleaseRecord['config']['environment']) => TlsRoutes | undefined;

export function computeRouteTable(store: StateStore, fleets: FleetSet, version: number, tlsRoutes: TlsRoutesSource | null = null): RouteTable {
  const environments: RouteTable['environments'] = {};
  for (const env of store.listEnvironmentNames()) {
    const release = routingRelease(store, env);
    if (!release) continue;
    // null: something else (a cluster's Gateway) splits this environment's traffic; the router has no part in it.
    const backends = fleets.of(release).backends(env, release);
    if (backends === null) continue;
    const rollout = store.activeRollout(env);
    const label = (releaseId: number) => String(store.getRelease(releaseId)?.number ?? releaseId);
    const weights = trafficWeights(store, fleets, env);
    const routes: EnvRoutes = {
      listen: formatListen(release.config.environment.listen),
      backends: backends.map((b) => ({ id: b.id, release: label(b.releaseId), url: b.url })),
      weights: Object.fromEntries(Object.entries(weights).map(([id, w]) => [label(Number(id)), w])),
    };
    // The router's limits (timeouts, body size, trusted proxies) of the release that decides the listener.
    if (release.config.environment.proxy) routes.proxy = release.config.environment.proxy;
    // Which requests on a shared listener are this environment's (absent: all of them, on a listener of its own).
    if (release.config.environment.hosts) routes.hosts = release.config.environment.hosts;
    if (release.config.environment.pathPrefix) routes.pathPrefix = release.config.environment.pathPrefix;
    const tls = release.config.environment.tls && tlsRoutes ? tlsRoutes(env, release.config.environment) : undefined;
    if (tls) routes.tls = tls;
    const strategy = release.config.environment.strategy;
    if (rollout && rollout.preview !== null && strategy.type === 'blue-green' && strategy.previewListen) {
      routes.preview = { listen: formatListen(strategy.previewListen), release: label(rollout.preview) };
    }
    // Maintenance and traffic pauses (traffic-gates.ts) outlast releases: they are the environment's, not a release's.
    const maintenance = store.trafficGates.maintenance(env);
    if (maintenance) routes.maintenance = { message: maintenance.message, retryAfterSeconds: maintenance.retryAfterSeconds };
    const pause = store.trafficGates.pause(env);
    if (pause) routes.hold = { untilMs: pause.untilMs, queueLimit: pause.queueLimit };
    if (rollout && rollout.fromReleaseId !== null && strategy.type === 'canary' && rollout.phase !== 'aborting') {
      routes.sticky = {
        canary: label(rollout.toReleaseId),
        stable: label(rollout.fromReleaseId),
        ...(strategy.sticky?.header ? { header: strategy.sticky.header } : {}),
        ...(strategy.sticky?.cookie ? { cookie: strategy.sticky.cookie } : {}),
      };
    }
    // A shadow step: the router copies requests stable answered to the new release (router/shadow/).
    const step = rollout ? currentStep(rollout) : undefined;
    if (rollout && rollout.fromReleaseId !== null && rollout.phase === 'progressing' && step?.type === 'shadow') {
      const s = step.shadow;
      routes.shadow = {
        run: shadowRunId(rollout), stable: label(rollout.fromReleaseId), candidate: label(rollout.toReleaseId), percent: s.percent,
        methods: s.methods, paths: s.paths, ignore: s.ignore, headers: s.headers, maxInFlight: s.maxInFlight, maxBodyBytes: s.maxBodyBytes,
      };
    }
    // record: the router keeps a sample of the environment's requests for the pipeline's replay stage (router/shadow/replay-recorder.ts).
    const record = release.config.environment.record;
    if (record) {
      routes.record = {
        percent: record.percent, methods: record.methods, paths: record.paths, headers: record.headers, bodies: record.bodies,
        maxBodyBytes: record.maxBodyBytes, anonymise: record.anonymise, sample: record.sample, maxBytes: record.maxBytes,
      };
    }
    environments[env] = routes;
  }
  return { version, environments };
}

/** A router table that was not the one the server last sent, and what was done about it. */
export interface RouteDrift {
  /** What the router ran. */
  found: RouteTableHead;
  /** What the server had sent it last. */
  sent: RouteTableHead;
  /** Environments whose routes differed; empty when only the version did. */
  environments: string[];
  /** The version of the table sent to put it right. */
  repairedVersion: number;
}

/** A router that can answer its table's version and digest alone (the router client can; a test double may not). */
type HeadReader = { getRouteHead?(): Promise<RouterHeadAnswer> };

/**
 * Every environment loop's pass asks for a check; they are coalesced so that the
 * router is asked at most this often, whatever the number of environments.
 */
const DRIFT_CHECK_MIN_INTERVAL_MS = 250;

/**
 * Serialises pushes so that versions reach the router in the order they were made.
 * The version counter lives in memory, seeded from the router's own table at start:
 * the router keeps its last version on disk, so nothing here needs a disk write on
 * the path of an abort.
 */
export class RouteSync {
  private chain: Promise<unknown> = Promise.resolve();
  private version = 0;
  listenerErrors: Record<string, string> = {};
  /** The last table the router accepted from us; null before the first push. */
  private sent: { head: RouteTableHead; table: RouteTable } | null = null;
  /** The last push failed (router unreachable): the next check pushes again, whatever the router holds. */
  private pushFailed = false;
  private checking: Promise<RouteDrift | null> | null = null;
  private lastCheckAt = 0;
  private checkFailing = false;
  /** Drift found whose repair push failed: reported once a later push gets through. */
  private unrepaired: Omit<RouteDrift, 'repairedVersion'> | null = null;
  private readonly driftListeners: ((d: RouteDrift) => void)[] = [];
  /** Where environments with tls: get their certificates (server.ts sets it); none: their tls: is left out. */
  tlsRoutes: TlsRoutesSource | null = null;

  constructor(
    private readonly store: StateStore,
    private readonly fleets: FleetSet,
    private readonly router: TrafficRouter & HeadReader,
    private readonly log: EngineLogger,
  ) {}

  /** Called after each drift was repaired (for the event, the audit entry and the metric). */
  onDrift(fn: (d: RouteDrift) => void): void {
    this.driftListeners.push(fn);
  }

  /**
   * Compares the router's table (version and digest) with the last one sent, and
   * sends the table again when they differ. Cheap when they agree: one small GET,
   * no table either way. Runs in turn with pushes, so a push in flight is never
   * mistaken for drift. Never rejects: a router that cannot be asked is the
   * supervisor's to restart, and is logged once.
   */
  checkDrift(): Promise<RouteDrift | null> {
    if (this.checking) return this.checking;
    if (Date.now() - this.lastCheckAt < DRIFT_CHECK_MIN_INTERVAL_MS) return Promise.resolve(null);
    this.lastCheckAt = Date.now();
    const run = this.chain.then(() => this.checkNow());
    this.chain = run.catch(() => undefined);
    this.checking = run
      .then((d) => {
        this.checkFailing = false;
        return d;
      }, (e: unknown) => {
        if (!this.checkFailing) this.log.warn({ err: (e as Error).message }, "cannot compare the router's route table with the one sent");
        this.checkFailing = true;
        return null;
      })
      .finally(() => {
        this.checking = null;
      });
    return this.checking;
  }

  private async checkNow(): Promise<RouteDrift | null> {
    const sent = this.sent;
    if (sent === null) return null;
    if (this.pushFailed || this.unrepaired) {
      if (this.pushFailed) await this.pushNow();
      // Drift found earlier is reported once a push got through (this one, or the engine's own).
      return this.unrepaired ? this.report(this.unrepaired) : null;
    }
    const found = await this.readHead();
    // A router just started has not applied its routes.json yet: compare on the next pass.
    if (found === null) return null;
    if (found.version === sent.head.version && found.digest === sent.head.digest) return null;
    // Only now is the whole table fetched: to name the environments that changed (private keys come back as fingerprints).
    const current = await this.router.getRoutes().catch(() => null);
    this.unrepaired = { found, sent: sent.head, environments: current ? changedEnvironments(current, redactTableKeys(sent.table)) : [] };
    // Past whatever version the router shows, so the repair is newer than the table it replaces.
    this.version = Math.max(this.version, found.version);
    await this.pushNow();
    return this.report(this.unrepaired);
  }

  private report(found: Omit<RouteDrift, 'repairedVersion'>): RouteDrift {
    this.unrepaired = null;
    const drift: RouteDrift = { ...found, repairedVersion: this.sent!.head.version };
    this.log.warn({ ...drift }, "the router's route table was not the one slipway sent; sent it again");
    for (const fn of this.driftListeners) {
      try {
        fn(drift);
      } catch (e) {
        this.log.error({ err: (e as Error).message }, 'reporting a repaired route table failed');
      }
    }
    return drift;
  }

  private async readHead(): Promise<RouteTableHead | null> {
    if (this.router.getRouteHead) {
      const { version, digest, ready } = await this.router.getRouteHead();
      return ready ? { version, digest } : null;
    }
    const table = await this.router.getRoutes();
    return { version: table.version, digest: routeTableDigest(table) };
  }

  async seed(): Promise<void> {
    const current = await this.router.getRoutes().catch(() => null);
    this.version = Math.max(this.version, current?.version ?? 0, Number(this.store.getMeta('seq:routes') ?? '0'));
  }

  /** The table last sent to the router, or null before the first push. */
  sentTable(): RouteTable | null {
    return this.sent?.table ?? null;
  }

  push(): Promise<void> {
    const run = this.chain.then(() => this.pushNow());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async pushNow(): Promise<void> {
    let answer;
    let table = computeRouteTable(this.store, this.fleets, ++this.version, this.tlsRoutes);
    try {
      try {
        answer = await this.router.putRoutes(table);
      } catch (e) {
        // A router that holds a newer version than ours (its table outlived our counter): jump past it once.
        const current = (e as { details?: { currentVersion?: number } }).details?.currentVersion;
        if (typeof current !== 'number') throw e;
        this.version = current;
        table = computeRouteTable(this.store, this.fleets, ++this.version, this.tlsRoutes);
        answer = await this.router.putRoutes(table);
      }
    } catch (e) {
      this.pushFailed = true;
      throw e;
    }
    this.pushFailed = false;
    this.sent = { head: { version: table.version, digest: routeTableDigest(table) }, table };
    const errors: Record<string, string> = {};
    for (const [env, l] of Object.entries(answer.listeners)) {
      if (!l.listening && l.error) errors[env] = l.error;
    }
    for (const [env, err] of Object.entries(errors)) {
      if (this.listenerErrors[env] !== err) this.log.error({ env, err }, 'router cannot listen for environment');
    }
    this.listenerErrors = errors;
  }
}

/** Environments whose routes differ between two tables (added, removed or changed). */
function changedEnvironments(a: RouteTable, b: RouteTable): string[] {
  const digest = (t: RouteTable, env: string) => (t.environments[env] === undefined ? null : routeTableDigest({ environments: { [env]: t.environments[env] } }));
  const names = [...new Set([...Object.keys(a.environments), ...Object.keys(b.environments)])].sort();
  return names.filter((env) => digest(a, env) !== digest(b, env));
}
