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
import { clusterSettingsOf } from '../core/ports/cluster-fleet.ts';
import { routingRelease } from './route-sync.ts';
import { releaseView, rolloutView, type ReleaseView, type RolloutView } from './status-view.ts';

export type { NotificationFailure } from '../store/observe-store.ts';

/** One page of a list kept newest first: at most `limit` items, each older than `before` when given. */
export interface PageRequest {
  limit: number;
  /** The key (a release's number, a run's id) the page starts below; the `next` of the page before. */
  before?: number | undefined;
}

/** What a page says of the rest: how many there are in all, whether more follow it, and the `before` that asks for them. */
export interface PageInfo {
  total: number;
  more: boolean;
  /** null: this page holds the oldest. */
  next: number | null;
}

/** The newest `limit` of `rows` (which were asked for one more than `limit`), with what follows them. */
function pageOf<T>(rows: T[], limit: number, total: number, keyOf: (row: T) => number): { items: T[] } & PageInfo {
  const items = rows.slice(0, limit);
  const more = rows.length > limit;
  return { items, total, more, next: more ? keyOf(items[items.length - 1]!) : null };
}

export interface ReleaseReads {
  /** A page of the environment's releases (`before`: a release number), newest first, each marked whether it is the stable one. */
  list(env: string, page?: PageRequest): { stable: number | null; releases: (ReleaseView & { isStable: boolean })[] } & PageInfo;
  /** Release `number` of `env` (as in `production#12`); null when there is none. */
  byNumber(env: string, number: number): ReleaseRecord | null;
  /** When release retention retired the release (epoch ms); null: kept, a rollback may go to it (docs/retention.md). */
  retiredAt(releaseId: number): number | null;
}

export interface RunReads {
  /** A page of pipeline run ids (`before`: a run id), newest first. */
  page(page: PageRequest): { ids: number[] } & PageInfo;
  /** Is there a run with this id? */
  exists(id: number): boolean;
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
  runs: RunReads;
  rollouts: RolloutReads;
  environments: EnvironmentReads;
  logs: LogReads;
  eventLog: EventLogReads;
}

export function readModels(store: StateStore): ReadModels {
  return {
    releases: {
      list(env, { limit, before } = { limit: 50 }) {
        const stable = store.getStableReleaseId(env);
        const { items, ...rest } = pageOf(store.listReleases(env, limit + 1, before ?? null), limit, store.countReleases(env), (r) => r.number);
        return { stable, releases: items.map((r) => ({ ...releaseView(r), isStable: r.id === stable })), ...rest };
      },
      byNumber: (env, number) => store.getReleaseByNumber(env, number),
      retiredAt: (releaseId) => store.retention.retiredAt(releaseId),
    },
    runs: {
      page({ limit, before }) {
        const { items, ...rest } = pageOf(store.pipeline.listRuns(limit + 1, before ?? null), limit, store.pipeline.countRuns(), (r) => r.id);
        return { ids: items.map((r) => r.id), ...rest };
      },
      exists: (id) => store.pipeline.getRun(id) !== null,
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
