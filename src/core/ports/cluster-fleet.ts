// What the engine and the cluster fleet (runtime/kubernetes/cluster-fleet.ts, the
// fleet port of environments with `runtime: kubernetes`) agree on: the records the
// fleet keeps through the engine (which backs them with its state store: the fleet
// never sees the store), what else the engine gives it, and how server.ts hands the
// engine a way to make one.

import type { Clock } from '../clock.ts';
import type { EventType } from '../events.ts';
import type { ReleaseRecord } from '../records.ts';
import type { KubernetesSettings } from '../service-config.ts';
import type { Fleet } from './fleet.ts';

/** What slipway asked of the cluster for one release: replicas, and those counted ready and given traffic. */
export interface ClusterReplicas {
  releaseId: number;
  replicas: number;
  serving: number;
}

/** The records the cluster fleet reads and writes (the engine backs them with its state store). */
export interface ClusterRecords {
  release(id: number): ReleaseRecord | null;
  releaseByNumber(env: string, number: number): ReleaseRecord | null;
  stableReleaseId(env: string): number | null;
  /** The release whose config decides: the one a rollout moves to, else the stable one. */
  routingRelease(env: string): ReleaseRecord | null;
  rolloutUnderWay(env: string): boolean;
  replicas(env: string): ClusterReplicas[];
  setReplicas(env: string, releaseId: number, v: { replicas: number; serving: number }, now: number): void;
  dropRelease(env: string, releaseId: number): void;
  /** Traffic shares by release id, as the router counts them (the rollout's split among what serves). */
  weights(env: string): Record<string, number>;
}

/** What the engine gives the cluster fleet it runs environments on a cluster with. */
export interface ClusterFleetHooks {
  records: ClusterRecords;
  clock: Clock;
  log: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void; error(obj: object, msg?: string): void };
  /** Values of a release's pinned secrets, for its Secret object. */
  resolveSecrets(release: ReleaseRecord): Promise<Record<string, string>>;
  onEvent(env: string, level: 'info' | 'warn' | 'error', message: string, type: EventType, data: Record<string, unknown>): void;
  /** A pod of a rollout's new release is crash-looping: the rollout must abort. */
  onCrash(env: string, rolloutId: number, reason: string): void;
}

/** Makes the engine's cluster fleet from what the engine gives it (server.ts: runtime/kubernetes's, over the clusters kubeconfig names). */
export type MakeClusterFleet = (hooks: ClusterFleetHooks) => Fleet;

/** The settings of an environment that runs on a cluster, or null when it does not. */
export function clusterSettingsOf(release: ReleaseRecord | null): KubernetesSettings | null {
  return release?.config.environment.runtime === 'kubernetes' ? release.config.environment.kubernetes ?? null : null;
}
