// Derives the router's table from the store and pushes it. The table is a pure
// function of recorded state (ready instances, the environments' listen addresses),
// so pushing it again after a crash is always right.

import type { InstanceRecord, ReleaseRecord } from '../core/records.ts';
import { formatListen } from '../core/service-config.ts';
import type { RouteTable } from '../router/route-table.ts';
import type { StateStore } from '../store/state-store.ts';
import type { EngineLogger, TrafficRouter } from './ports.ts';

export interface EnvRouting {
  listen: string;
  /** release id → share of traffic, before normalisation over releases with ready instances. */
  weights?: Record<number, number>;
}

/** Which release's config decides the listen address: the one a rollout moves to, else the stable one. */
export function routingRelease(store: StateStore, env: string): ReleaseRecord | null {
  const active = store.activeRollout(env);
  const id = active ? active.toReleaseId : store.getStableReleaseId(env);
  return id === null ? null : store.getRelease(id);
}

export function computeRouteTable(store: StateStore, version: number): RouteTable {
  const environments: RouteTable['environments'] = {};
  const live = store.liveInstances();
  for (const env of store.listEnvironmentNames()) {
    const release = routingRelease(store, env);
    if (!release) continue;
    const ready = live.filter((i) => i.env === env && i.state === 'ready');
    environments[env] = {
      listen: formatListen(release.config.environment.listen),
      backends: ready.map((i) => ({ id: i.id, release: releaseLabel(store, i), url: `http://127.0.0.1:${i.port}` })),
      weights: proportionalWeights(store, ready),
    };
  }
  return { version, environments };
}

function releaseLabel(store: StateStore, i: InstanceRecord): string {
  return String(store.getRelease(i.releaseId)?.number ?? i.releaseId);
}

/** Rolling: each release gets traffic in proportion to its ready instances, so every instance gets an equal share. */
function proportionalWeights(store: StateStore, ready: InstanceRecord[]): Record<string, number> {
  const counts = new Map<string, number>();
  for (const i of ready) counts.set(releaseLabel(store, i), (counts.get(releaseLabel(store, i)) ?? 0) + 1);
  const weights: Record<string, number> = {};
  for (const [label, n] of counts) weights[label] = (n * 100) / ready.length;
  return weights;
}

/** Serialises pushes so that versions reach the router in the order they were made. */
export class RouteSync {
  private chain: Promise<unknown> = Promise.resolve();
  listenerErrors: Record<string, string> = {};

  constructor(
    private readonly store: StateStore,
    private readonly router: TrafficRouter,
    private readonly log: EngineLogger,
  ) {}

  push(): Promise<void> {
    const run = this.chain.then(() => this.pushNow());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async pushNow(): Promise<void> {
    const table = computeRouteTable(this.store, this.store.nextSequence('routes'));
    const answer = await this.router.putRoutes(table);
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
