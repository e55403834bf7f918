// Derives the router's table from the store and pushes it. The table is a pure
// function of recorded state (ready instances, the environments' listen addresses),
// so pushing it again after a crash is always right.

import type { ReleaseRecord } from '../core/records.ts';
import { formatListen, type KubernetesSettings } from '../core/service-config.ts';
import { releaseServiceUrl } from '../runtime/kubernetes/manifests.ts';
import { effectiveWeights } from '../core/rollout.ts';
import type { EnvRoutes, RouteTable } from '../router/route-table.ts';
import type { StateStore } from '../store/state-store.ts';
import type { EngineLogger, TrafficRouter } from './ports.ts';

/** Which release's config decides the listen address: the one a rollout moves to, else the stable one. */
export function routingRelease(store: StateStore, env: string): ReleaseRecord | null {
  const active = store.activeRollout(env);
  const id = active ? active.toReleaseId : store.getStableReleaseId(env);
  return id === null ? null : store.getRelease(id);
}

/** The settings of an environment that runs on a cluster, or null when it runs here. */
export function clusterSettingsOf(release: ReleaseRecord | null): KubernetesSettings | null {
  return release?.config.environment.runtime === 'kubernetes' ? release.config.environment.kubernetes ?? null : null;
}

/** Serving replicas by release id of an environment on a cluster (those counted ready, which get traffic). */
export function clusterServing(store: StateStore, env: string): Record<string, number> {
  return Object.fromEntries(store.clusterReplicas(env).filter((r) => r.serving > 0).map((r) => [String(r.releaseId), r.serving]));
}

/** Traffic shares by release id: the rollout's split among releases that serve, else in proportion to what serves. */
export function trafficWeights(store: StateStore, env: string): Record<string, number> {
  const cluster = clusterSettingsOf(routingRelease(store, env));
  const serving: Record<string, number> = cluster ? clusterServing(store, env) : {};
  if (!cluster) for (const i of store.liveInstances(env)) if (i.state === 'ready') serving[i.releaseId] = (serving[i.releaseId] ?? 0) + 1;
  return effectiveWeights(store.activeRollout(env)?.traffic ?? null, serving);
}

export function computeRouteTable(store: StateStore, version: number): RouteTable {
  const environments: RouteTable['environments'] = {};
  const live = store.liveInstances();
  for (const env of store.listEnvironmentNames()) {
    const release = routingRelease(store, env);
    if (!release) continue;
    const cluster = clusterSettingsOf(release);
    // An HTTPRoute splits this environment's traffic on the cluster: the router has no part in it.
    if (cluster?.traffic === 'gateway') continue;
    const rollout = store.activeRollout(env);
    const label = (releaseId: number) => String(store.getRelease(releaseId)?.number ?? releaseId);
    const weights = trafficWeights(store, env);
    // On a cluster a release is one backend, its Service; the Service spreads the share over ready pods.
    const backends = cluster
      ? Object.keys(clusterServing(store, env)).map((id) => {
        const url = releaseServiceUrl({ service: release.service, environment: env }, cluster.namespace, Number(label(Number(id))));
        return { id: new URL(url).hostname, release: label(Number(id)), url };
      })
      : live.filter((i) => i.env === env && i.state === 'ready').map((i) => ({ id: i.id, release: label(i.releaseId), url: `http://127.0.0.1:${i.port}` }));
    const routes: EnvRoutes = {
      listen: formatListen(release.config.environment.listen),
      backends,
      weights: Object.fromEntries(Object.entries(weights).map(([id, w]) => [label(Number(id)), w])),
    };
    const strategy = release.config.environment.strategy;
    if (rollout && rollout.preview !== null && strategy.type === 'blue-green' && strategy.previewListen) {
      routes.preview = { listen: formatListen(strategy.previewListen), release: label(rollout.preview) };
    }
    if (rollout && rollout.fromReleaseId !== null && strategy.type === 'canary' && rollout.phase !== 'aborting') {
      routes.sticky = {
        canary: label(rollout.toReleaseId),
        stable: label(rollout.fromReleaseId),
        ...(strategy.sticky?.header ? { header: strategy.sticky.header } : {}),
        ...(strategy.sticky?.cookie ? { cookie: strategy.sticky.cookie } : {}),
      };
    }
    environments[env] = routes;
  }
  return { version, environments };
}

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

  constructor(
    private readonly store: StateStore,
    private readonly router: TrafficRouter,
    private readonly log: EngineLogger,
  ) {}

  async seed(): Promise<void> {
    const current = await this.router.getRoutes().catch(() => null);
    this.version = Math.max(this.version, current?.version ?? 0, Number(this.store.getMeta('seq:routes') ?? '0'));
  }

  push(): Promise<void> {
    const run = this.chain.then(() => this.pushNow());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async pushNow(): Promise<void> {
    let answer;
    try {
      answer = await this.router.putRoutes(computeRouteTable(this.store, ++this.version));
    } catch (e) {
      // A router that holds a newer version than ours (its table outlived our counter): jump past it once.
      const current = (e as { details?: { currentVersion?: number } }).details?.currentVersion;
      if (typeof current !== 'number') throw e;
      this.version = current;
      answer = await this.router.putRoutes(computeRouteTable(this.store, ++this.version));
    }
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
