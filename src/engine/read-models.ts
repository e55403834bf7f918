// What the API may read of the recorded state: narrow, read-only services over the
// state store, each answering one kind of question. The API gets these and the
// engine's commands, never the store itself, so a route cannot write state behind
// the engine's back, and the store's shape can change without touching the API.
//
// Nothing here writes, and nothing here holds state of its own: each service is a
// view of the store it was made from.

import type { ConfigVersionRecord, MetricSample, ReleaseRecord, RolloutEventRecord } from '../core/records.ts';
import type { Rollout } from '../core/rollout.ts';
import type { NotificationFailure } from '../store/observe-store.ts';
import type { StateStore } from '../store/state-store.ts';
import { clusterSettingsOf, routingRelease } from './route-sync.ts';
import { releaseView, rolloutView, type ReleaseView, type RolloutView } from './status-view.ts';

export type { NotificationFailure } from '../store/observe-store.ts';

export interface ReleaseReads {
  /** The environment's releases, newest first, each marked whether it is the stable one. */
  list(env: string): { stable: number | null; releases: (ReleaseView & { isStable: boolean })[] };
  /** Release `number` of `env` (as in `production#12`); null when there is none. */
  byNumber(env: string, number: number): ReleaseRecord | null;
  /** When release retention retired the release (epoch ms); null: kept, a rollback may go to it (docs/retention.md). */
  retiredAt(releaseId: number): number | null;
}

export interface RolloutReads {
  get(id: number): Rollout | null;
  /** A rollout as the API shows it: release numbers, steps described. */
  view(r: Rollout): RolloutView;
  /** The rollout's events after event `afterId`, oldest first. */
  events(id: number, afterId: number): RolloutEventRecord[];
}

export interface EnvironmentReads {
  /** Per-release metric samples of the environment since `sinceTs` (epoch ms). */
  metricSamples(env: string, sinceTs: number): MetricSample[];
  /** Config versions of the environment, newest first. */
  configVersions(env: string): ConfigVersionRecord[];
  /** Webhook deliveries that failed after every retry, newest first. */
  notificationFailures(env: string): NotificationFailure[];
}

/** One instance whose log file the API may read. */
export interface LogSourceRecord {
  instance: string;
  /** The number of the instance's release (-1 if the release is not recorded). */
  release: number;
  logPath: string;
}

export interface LogReads {
  /** The environment's newest `limit` instances (live or not), with their log files. */
  sources(env: string, limit: number): LogSourceRecord[];
  /**
   * Where the environment runs when its instances' output is kept off this machine
   * (a Kubernetes cluster keeps its pods' output); null when it runs here.
   */
  kept(env: string): { service: string; namespace: string } | null;
}

export interface EventLogReads {
  /** The id of the newest event recorded (0: none yet). */
  lastEventId(): number;
}

/** Every read the API makes of recorded state. */
export interface ReadModels {
  releases: ReleaseReads;
  rollouts: RolloutReads;
  environments: EnvironmentReads;
  logs: LogReads;
  eventLog: EventLogReads;
}

export function readModels(store: StateStore): ReadModels {
  return {
    releases: {
      list(env) {
        const stable = store.getStableReleaseId(env);
        return { stable, releases: store.listReleases(env).map((r) => ({ ...releaseView(r), isStable: r.id === stable })) };
      },
      byNumber: (env, number) => store.getReleaseByNumber(env, number),
      retiredAt: (releaseId) => store.retention.retiredAt(releaseId),
    },
    rollouts: {
      get: (id) => store.getRollout(id),
      view: (r) => rolloutView(store, r),
      events: (id, afterId) => store.rolloutEvents(id, afterId),
    },
    environments: {
      metricSamples: (env, sinceTs) => store.metricSamples(env, sinceTs),
      configVersions: (env) => store.configs.listVersions(env),
      notificationFailures: (env) => store.observe.notificationFailures(env),
    },
    logs: {
      sources(env, limit) {
        const numbers = new Map<number, number>();
        const numberOf = (releaseId: number) => {
          if (!numbers.has(releaseId)) numbers.set(releaseId, store.getRelease(releaseId)?.number ?? -1);
          return numbers.get(releaseId)!;
        };
        return store.recentInstances(env, limit).map((i) => ({ instance: i.id, release: numberOf(i.releaseId), logPath: i.logPath }));
      },
      kept(env) {
        const routing = routingRelease(store, env);
        const cluster = clusterSettingsOf(routing);
        return routing && cluster ? { service: routing.service, namespace: cluster.namespace } : null;
      },
    },
    eventLog: {
      lastEventId: () => store.observe.lastEventId(),
    },
  };
}

/** The read models of a server's engine: what the API is given when its composition names none. */
export function readModelsOf(engine: { readonly store: StateStore }): ReadModels {
  return readModels(engine.store);
}
