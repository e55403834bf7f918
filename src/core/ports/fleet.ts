// The port the engine's rollout machine drives, whatever runs the service: a fleet
// scales one release of an environment to a number of serving units (instances on
// this machine, pods on a cluster), says how many of each release serve, and where
// the router should send each release's share of the traffic (or that something
// else splits it). The engine picks a fleet by the release's `runtime:` and has no
// other knowledge of where instances run.
//
// Two implementations: the instance fleet (engine/instance-fleet.ts), one for every
// runtime driver of this machine (runtime.ts: local processes, Docker), and the
// cluster fleet (runtime/kubernetes/cluster-fleet.ts). One contract suite runs both.
// The port lives in core so that both the engine and runtime/ may import it.

import type { ReleaseRecord } from '../records.ts';
import type { Rollout } from '../rollout.ts';
import type { EnvironmentSpec, RuntimeName } from '../service-config.ts';
import type { ImageRequest } from './runtime.ts';

export type ScaleOutcome = { ok: true } | { ok: false; reason: string };

/** One place the router sends a share of a release's traffic to. */
export interface FleetBackend {
  id: string;
  releaseId: number;
  url: string;
}

/** Where an environment runs beyond its instances (a cluster's context and namespace), for status. */
export interface FleetPlacement {
  context: string | null;
  namespace: string;
  traffic: 'router' | 'gateway';
  /**
   * Per release: units asked for, those counted ready and given traffic, and (null
   * until known) what the platform reports now: ready units, all, their restarts.
   */
  releases: { release: number; replicas: number; serving: number; live: { ready: number; pods: number; restarts: number } | null }[];
}

export interface Fleet {
  /** The runtimes this fleet runs (an environment's `runtime:` names one). */
  readonly runtimes: readonly RuntimeName[];
  /**
   * Brings `release` to exactly `count` ready units. Growing, a unit gets traffic
   * only once ready; shrinking, traffic leaves a unit before it stops. Stops early
   * (the step is then redone or abandoned) once `isCancelled` says so.
   */
  scale(release: ReleaseRecord, count: number, isCancelled: () => boolean): Promise<ScaleOutcome>;
  /**
   * No rollout under way: `stable` at its configured size, then nothing else of the
   * environment running. With no stable release, everything of it stops.
   */
  maintain(env: string, stable: ReleaseRecord | null): Promise<ScaleOutcome>;
  /** Ready units that get traffic, by release id (releases with none are left out). */
  serving(env: string): Record<number, number>;
  /**
   * Where the router sends each release's share; null when the router has no part
   * in the environment's traffic (a cluster's Gateway splits it).
   */
  backends(env: string, routing: ReleaseRecord): FleetBackend[] | null;
  /**
   * The split the records hold now, applied where the fleet splits traffic itself
   * (a cluster's Services and HTTPRoute). Never throws: a split not taken is retried
   * at each `sync`.
   */
  applyTraffic(env: string): Promise<void>;
  /**
   * `slipway remove`, after `maintain(env, null)`: deletes what the fleet made for
   * the environment outside slipway's own records (a cluster's objects). Idempotent.
   */
  forget(env: string): Promise<void>;
  /** Each reconciler pass, with the environment's active rollout: retries and watches. */
  sync(env: string, rollout: Rollout | null): Promise<void>;
  /** A rollout of the environment ended: what it kept for it may go at the next maintenance. */
  rolloutEnded(env: string): void;
  /** Why a release configured as `next` cannot replace `stable` by a rollout; null when it can. */
  replaceRefusal(stable: ReleaseRecord, next: EnvironmentSpec): string | null;
  /** Refuses settings this fleet cannot honour before anything is recorded (E_POLICY_DENIED, E_RUNTIME_UNAVAILABLE). */
  assertCanRun(release: Pick<ReleaseRecord, 'config'>): void;
  /** The image a release will run, readied before it is recorded; null when the fleet needs none. */
  prepareImage(req: ImageRequest & { runtime: RuntimeName }): Promise<string | null>;
  /** Whether a recorded image is still there (a rollback never pulls). */
  hasImage(runtime: RuntimeName, imageId: string): Promise<boolean>;
  /**
   * Retention: the image of releases no longer kept goes (see Runtime.removeImage).
   * Absent: the fleet keeps no image of its own (a cluster's images are CI's).
   */
  removeImage?(runtime: RuntimeName, imageId: string): Promise<{ deleted: boolean; bytes: number; keptBecause: string | null }>;
  /** Placement beyond this machine, for status; null for instances here. */
  placement(env: string): FleetPlacement | null;
  /** Ends watches and timers. */
  stop(): void;
}
