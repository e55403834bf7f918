// `slipway down` and `slipway remove`: an environment stopped on purpose.
//
// Down forgets the environment's stable release (its releases, rollouts and config
// stay), so that everything else follows from the records as it always does: the
// route table leaves it out (the router closes its listener, or stops taking its
// hosts on a shared one), no listen address is claimed for it any more, the
// reconciler keeps "no stable release" by stopping every instance of it, and a
// watch window of its last release ends. A deploy then brings it up again as a new
// release. Remove is down, then every record of it but its audit entries.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { envNameOf, envSlug, splitEnvKey } from '../core/env-key.ts';
import { SlipwayError } from '../core/errors.ts';
import type { StateStore } from '../store/state-store.ts';
import { TeardownStore, type DownMark, type ForgottenCounts } from '../store/teardown-store.ts';
import { appDataDir } from '../store/app-data-dir.ts';
import { listenerIdOf } from '../router/listen-claims.ts';
import type { RouteTable } from '../router/route-table.ts';
import type { FleetSet } from './fleet-set.ts';
import { imagesOrphanedByRemoving, type OrphanedImage } from './release-retention.ts';
import type { Clock, EngineLogger, HostIdentity } from './ports.ts';

/** How long down waits for instances that were already draining when it came. */
const STOP_WAIT_MS = 60_000;

export interface TeardownDeps {
  store: StateStore;
  fleets: FleetSet;
  clock: Clock;
  log: EngineLogger;
  /** The data directory's root and its releases/ directory. */
  paths: { root: string; releases: string };
  /** Removes trees given to the users that ran them (ports.ts). */
  identity: Pick<HostIdentity, 'removeTree'>;
  /** Sends the router the table the records now make. */
  pushRoutes: () => Promise<void>;
  /** The table last sent to the router: which environments listen where. */
  sentRoutes: () => RouteTable | null;
  /** Lets the environment's reconciler loop see the change. */
  wake: (env: string) => void;
  /** Throws E_ENV_LOCKED when a rollout holds the environment. */
  assertUnlocked: (env: string) => void;
  /** Deployed to at least once, or given config. */
  isKnown: (env: string) => boolean;
  /**
   * Gives up a service's pipeline user (its HOME, its uid) unless a run of the
   * service is unfinished: answers those runs then (pipeline-runner.ts).
   */
  releasePipelineUser: (service: string) => { released: boolean; keptFor: number[] };
}

export interface DownAnswer {
  env: string;
  /** false: it was down already; nothing was changed. */
  changed: boolean;
  down: DownMark;
  /** Instances stopped by this call. */
  stopped: string[];
  /** Releases scaled to zero on a cluster by this call, with the pods each had asked for. */
  clusterStopped: { release: number; replicas: number }[];
  /**
   * The environments that still listen on the address this one left (they share it
   * by host), so the router keeps the listener for them; empty when it was released.
   */
  listenerKeptFor: string[];
}

export interface RemoveAnswer {
  env: string;
  stopped: string[];
  clusterStopped: { release: number; replicas: number }[];
  forgotten: ForgottenCounts;
  /** The environment's own data directory, which remove leaves in place (it is the app's data, not slipway's). */
  appDataKept: string | null;
  /** The images its releases ran (container runtimes), which go with it unless another environment's kept release runs them. */
  images: RemovedImages;
}

export interface RemovedImages {
  /** Image ids the engine deleted. */
  removed: string[];
  /** What the engine's layers shrank by. */
  bytesFreed: number;
  /** Images the engine kept (a container of something else uses it, another slipway server keeps it), with why. */
  kept: { image: string; why: string }[];
  /** Images that could not be removed, with why: they stay until removed by hand. */
  failed: { image: string; error: string }[];
}

export class EnvironmentTeardown {
  readonly records: TeardownStore;
  /**
   * Services whose last environment went while a run still ran as their pipeline
   * user: the user goes when that run ends (runEnded). In memory: after a restart in
   * between, it goes with the next removal, as before.
   */
  private readonly keptForRuns = new Set<string>();

  constructor(private readonly deps: TeardownDeps) {
    this.records = new TeardownStore(deps.store.db);
  }

  downMark(env: string): DownMark | null {
    return this.records.downMark(env);
  }

  async down(req: { env: string; actor: string }): Promise<DownAnswer> {
    const { store } = this.deps;
    this.assertKnown(req.env);
    const already = this.records.downMark(req.env);
    const live = store.liveInstances(req.env);
    const onCluster = this.clusterRunning(req.env);
    if (already && live.length === 0 && onCluster.length === 0) return { env: req.env, changed: false, down: already, stopped: [], clusterStopped: [], listenerKeptFor: [] };
    const down = store.atomically(() => {
      // A rollout holds the environment: it is aborted or finished first, never cut in half.
      this.deps.assertUnlocked(req.env);
      const stableId = store.getStableReleaseId(req.env);
      const mark: DownMark = already ?? { at: this.deps.clock.now(), by: req.actor, release: stableId === null ? null : store.getRelease(stableId)?.number ?? null };
      this.records.markDown(req.env, mark);
      return mark;
    });
    this.deps.log.info({ env: req.env, by: req.actor, release: down.release }, `${req.env} is going down: its listener is released and its instances stop`);
    const listen = this.deps.sentRoutes()?.environments[req.env]?.listen;
    // The router first: no request is sent to an instance about to stop, and the listener goes.
    await this.deps.pushRoutes();
    const others = Object.entries(this.deps.sentRoutes()?.environments ?? {});
    // One listener, by the router's own rule: the same address however it is written.
    const id = listen === undefined ? null : listenerIdOf({ key: req.env, listen });
    const listenerKeptFor = others.filter(([env, r]) => id !== null && listenerIdOf({ key: env, listen: r.listen }) === id).map(([env]) => env);
    const stopped = await this.stopAll(req.env);
    this.deps.wake(req.env);
    return { env: req.env, changed: true, down, stopped, clusterStopped: onCluster, listenerKeptFor };
  }

  async remove(req: { env: string; actor: string }): Promise<RemoveAnswer> {
    const { stopped, clusterStopped } = await this.down(req);
    // What a fleet made outside the records (a cluster's objects) goes while the records still name it.
    for (const fleet of this.deps.fleets.all()) {
      try {
        await fleet.forget(req.env);
      } catch (e) {
        throw new SlipwayError('E_DEPLOY_FAILED', `${req.env} is down, but removing what it has on its cluster failed: ${(e as Error).message}; nothing is forgotten yet, run remove again`, { env: req.env });
      }
    }
    const { forgotten, orphaned } = this.deps.store.atomically(() => {
      // A deploy may have started between the two steps: it is not forgotten under its feet.
      this.deps.assertUnlocked(req.env);
      // A later environment of the same name starts out of maintenance and unpaused.
      this.deps.store.trafficGates.clearMaintenance(req.env);
      this.deps.store.trafficGates.clearPause(req.env);
      // Read with the releases still there: no sweep would ever retire these once they are forgotten.
      const orphaned = imagesOrphanedByRemoving(this.deps.store, req.env);
      return { forgotten: this.records.forget(req.env), orphaned };
    });
    await this.deps.pushRoutes();
    // Its release trees and HOME are the environment's user's: emptied by that user
    // (HostIdentity.removeTree). The environment is forgotten by now: a tree that user could
    // not empty is left and said, not a failed teardown.
    try {
      this.deps.identity.removeTree(join(this.deps.paths.releases, envSlug(req.env)));
    } catch (e) {
      this.deps.log.warn({ env: req.env, err: (e as Error).message }, 'could not remove the environment\'s release directory; remove it by hand');
    }
    const images = await this.removeImages(req.env, orphaned);
    const { service } = splitEnvKey(req.env);
    if (service !== null) this.releasePipelineUserOf(service);
    const data = service === null ? null : appDataDir(this.deps.paths.root, service, envNameOf(req.env));
    this.deps.log.info({ env: req.env, by: req.actor, ...forgotten, imagesRemoved: images.removed.length }, `${req.env} removed: its releases, rollouts and config versions are forgotten (audit entries stay)`);
    return { env: req.env, stopped, clusterStopped, forgotten, appDataKept: data !== null && existsSync(data) ? data : null, images };
  }

  /**
   * The images of a removed environment's releases go as retention removes them
   * (Fleet.removeImage: slipway's own tags, nothing forced). The environment is
   * forgotten by now: an image that cannot be removed is logged and said, never a
   * failed remove, and stays until removed by hand.
   */
  private async removeImages(env: string, orphaned: OrphanedImage[]): Promise<RemovedImages> {
    const out: RemovedImages = { removed: [], bytesFreed: 0, kept: [], failed: [] };
    for (const { imageId, release } of orphaned) {
      try {
        const r = await this.deps.fleets.of(release).removeImage?.(release.config.environment.runtime, imageId);
        if (r?.deleted) {
          out.removed.push(imageId);
          out.bytesFreed += r.bytes;
        } else if (r?.keptBecause) {
          out.kept.push({ image: imageId, why: r.keptBecause });
          this.deps.log.info({ env, image: imageId, why: r.keptBecause }, `${env} removed: its tags of an image that stays are removed`);
        }
      } catch (e) {
        const error = (e as Error).message;
        out.failed.push({ image: imageId, error });
        this.deps.log.warn({ env, image: imageId, err: error }, `${env} removed, but an image of its releases could not be removed; remove it by hand (docker image rm)`);
      }
    }
    return out;
  }

  /**
   * The service's pipeline user goes with its last environment: its HOME, its
   * directory, the checkouts of its runs, and its claim on a uid. In the same turn as
   * the check, so no run of the service can begin in between; a run still unfinished
   * runs as that user, so then all of it stays, and the log says why, and it goes
   * when the last such run ends (runEnded).
   */
  private releasePipelineUserOf(service: string): void {
    this.keptForRuns.delete(service);
    if (this.records.environmentsOf(service).length > 0) return;
    try {
      const { released, keptFor } = this.deps.releasePipelineUser(service);
      if (keptFor.length > 0) this.keptForRuns.add(service);
      const runs = keptFor.map((id) => `#${id}`).join(', ');
      if (keptFor.length > 0) this.deps.log.info({ service, runs: keptFor }, `no environment of ${service} is left, but its pipeline user (HOME and uid) is kept: run ${runs} of ${service} is unfinished and runs as that user`);
      else if (released) this.deps.log.info({ service }, `no environment of ${service} is left: its pipeline user's HOME and run directories are removed and its uid released`);
    } catch (e) {
      this.deps.log.warn({ service, err: (e as Error).message }, `no environment of ${service} is left, but its pipeline user's directory could not be removed (its uid stays claimed); remove releases/.pipeline.${service} by hand`);
    }
  }

  /**
   * A pipeline run of `service` ended: a user kept for it after the service's last
   * environment went is given up now. A service that never had an environment keeps
   * its user (and the caches in its HOME) between runs.
   */
  runEnded(service: string): void {
    if (this.keptForRuns.has(service)) this.releasePipelineUserOf(service);
  }

  /** Releases a cluster runs for the environment now (replicas asked for, above zero). */
  private clusterRunning(env: string): { release: number; replicas: number }[] {
    return this.deps.fleets.all().flatMap((f) => f.placement(env)?.releases ?? []).filter((r) => r.replicas > 0).map((r) => ({ release: r.release, replicas: r.replicas }));
  }

  private assertKnown(env: string): void {
    if (this.deps.isKnown(env)) return;
    const known = this.deps.store.listEnvironmentNames();
    throw new SlipwayError('E_ENV_UNKNOWN', `there is no environment "${env}" on this server${known.length ? `; it has: ${known.join(', ')}` : ''}`, { env });
  }

  /** Every fleet keeps "no stable release" now: each unit of the environment drains and stops. */
  private async stopAll(env: string): Promise<string[]> {
    const before = this.deps.store.liveInstances(env).map((i) => i.id);
    for (const fleet of this.deps.fleets.all()) {
      const outcome = await fleet.maintain(env, null);
      if (!outcome.ok) {
        throw new SlipwayError('E_DEPLOY_FAILED', `${env} is down (no traffic reaches it), but not every instance stopped: ${outcome.reason}; the server keeps trying`, { env });
      }
    }
    // Instances already draining (a retire under way) finish on their own timers.
    const deadline = this.deps.clock.now() + STOP_WAIT_MS;
    while (this.deps.store.liveInstances(env).length > 0 && this.deps.clock.now() < deadline) await this.deps.clock.sleep(100);
    const left = this.deps.store.liveInstances(env);
    if (left.length > 0) {
      throw new SlipwayError('E_DEPLOY_FAILED', `${env} is down (no traffic reaches it), but ${left.map((i) => i.id).join(', ')} did not stop within ${STOP_WAIT_MS / 1000}s; the server keeps trying`, { env });
    }
    return before;
  }
}
