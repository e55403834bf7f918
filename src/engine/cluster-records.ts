// The records the cluster fleet keeps and reads (ClusterRecords, core/ports/cluster-fleet.ts),
// backed by the state store: the fleet never sees the store itself.

import type { ClusterRecords } from '../core/ports/cluster-fleet.ts';
import type { StateStore } from '../store/state-store.ts';
import type { FleetSet } from './fleet-set.ts';
import { routingRelease, trafficWeights } from './route-sync.ts';

/** `fleets` is read at each call: the set holds the cluster fleet being built with these records. */
export function clusterRecordsOf(store: StateStore, fleets: () => FleetSet): ClusterRecords {
  return {
    release: (id) => store.getRelease(id),
    releaseByNumber: (env, n) => store.getReleaseByNumber(env, n),
    stableReleaseId: (env) => store.getStableReleaseId(env),
    routingRelease: (env) => routingRelease(store, env),
    rolloutUnderWay: (env) => store.activeRollout(env) !== null,
    replicas: (env) => store.clusterReplicas(env),
    setReplicas: (env, id, v, now) => store.setClusterReplicas(env, id, v, now),
    dropRelease: (env, id) => store.dropClusterRelease(env, id),
    weights: (env) => trafficWeights(store, fleets(), env),
  };
}
