// The fleet port (core/ports/fleet.ts) for instances on this machine, over whichever
// runtime drivers the server offers (local processes, Docker): scaling one release
// of one environment to a count of ready instances, and retiring instances safely:
// out of the router first, drained, then stopped.

import type { EventType } from '../core/events.ts';
import type { InstanceRecord, ReleaseRecord } from '../core/records.ts';
import type { StateStore } from '../store/state-store.ts';
import type { EnvironmentSpec, RuntimeName } from '../core/service-config.ts';
import type { InstanceHandle, ImageRequest } from '../core/ports/runtime.ts';
import type { Fleet, FleetBackend, FleetPlacement, ScaleOutcome } from '../core/ports/fleet.ts';
import { runtimeNamed } from './runtime-set.ts';
import { handleOf, launchInstance, runtimeOf, stopInstanceProcess, waitUntilHealthy, type LifecycleDeps } from './instance-lifecycle.ts';
import type { Clock, EngineLogger } from './ports.ts';
import type { RouteSync } from './route-sync.ts';
import type { TrafficRouter } from './ports.ts';

export interface FleetDeps extends LifecycleDeps {
  store: StateStore;
  router: TrafficRouter;
  /** Pushes the router's table again (after an instance joins or leaves it). */
  routes: Pick<RouteSync, 'push'>;
  clock: Clock;
  log: EngineLogger;
  ensureReleaseDir(release: ReleaseRecord): Promise<void>;
  /** `type` and `data` make it an event of the event stream (SSE, webhooks) too. */
  onInstanceEvent(env: string, level: 'info' | 'warn' | 'error', message: string, type: EventType, data: Record<string, unknown>): void;
}

export type { ScaleOutcome } from '../core/ports/fleet.ts';

export class InstanceFleet implements Fleet {
  /** Instances being retired right now: a second request to retire one waits for the first. */
  private readonly retiring = new Map<string, Promise<void>>();
  /** Instances whose runtime could not say whether they run (instance id → its words), until it can. */
  private readonly unknownStates = new Map<string, string>();
  readonly runtimes: readonly RuntimeName[];
  /** Set when the server stops together with its instances: from then on nothing is started. */
  private isRefusingStarts = false;

  constructor(private readonly deps: FleetDeps) {
    this.runtimes = (Object.keys(deps.runtimes) as RuntimeName[]).filter((n) => deps.runtimes[n] !== undefined);
  }

  serving(env: string): Record<number, number> {
    const out: Record<number, number> = {};
    for (const i of this.deps.store.liveInstances(env)) if (i.state === 'ready') out[i.releaseId] = (out[i.releaseId] ?? 0) + 1;
    return out;
  }

  /** Every ready instance is a backend of its release. */
  backends(env: string): FleetBackend[] {
    return this.deps.store.liveInstances(env).filter((i) => i.state === 'ready').map((i) => ({ id: i.id, releaseId: i.releaseId, url: `http://127.0.0.1:${i.port}` }));
  }

  /** The router's table is the split here: route-sync pushes it; nothing else to apply. */
  async applyTraffic(): Promise<void> {}

  async sync(): Promise<void> {}

  rolloutEnded(): void {}

  /** Instances leave nothing outside the records and release directories, which teardown removes itself. */
  async forget(): Promise<void> {}

  /** Processes and containers of this machine can replace each other by a rollout: both get the router's traffic. */
  replaceRefusal(_stable: ReleaseRecord, _next: EnvironmentSpec): string | null {
    return null;
  }

  /** A runtime the server lacks, or a setting it cannot honour (run.user), is refused now, not when the first instance fails to start. */
  assertCanRun(release: Pick<ReleaseRecord, 'config'>): void {
    runtimeNamed(this.deps.runtimes, release.config.environment.runtime).assertCanRun?.({ user: release.config.run.user });
  }

  async prepareImage(req: ImageRequest & { runtime: RuntimeName }): Promise<string | null> {
    const runtime = runtimeNamed(this.deps.runtimes, req.runtime);
    return runtime.prepareImage ? runtime.prepareImage(req) : null;
  }

  async hasImage(runtime: RuntimeName, imageId: string): Promise<boolean> {
    const r = runtimeNamed(this.deps.runtimes, runtime);
    return r.hasImage ? r.hasImage(imageId) : true;
  }

  async removeImage(runtime: RuntimeName, imageId: string): Promise<{ deleted: boolean; bytes: number; keptBecause: string | null }> {
    const r = runtimeNamed(this.deps.runtimes, runtime);
    return r.removeImage ? r.removeImage(imageId) : { deleted: false, bytes: 0, keptBecause: null };
  }

  placement(): FleetPlacement | null {
    return null;
  }

  stop(): void {}

  /** The stable release at its size; instances of any other release go only once it is (none at all with no stable release). */
  async maintain(env: string, stable: ReleaseRecord | null): Promise<ScaleOutcome> {
    const strays = () => this.deps.store.liveInstances(env).filter((i) => i.releaseId !== stable?.id && (i.state === 'ready' || i.state === 'starting'));
    try {
      if (stable) {
        const outcome = await this.scale(stable, stable.config.environment.instances, () => this.deps.store.activeRollout(env) !== null);
        if (!outcome.ok) return outcome;
      } else {
        // An environment that is down (or never came up): a stop that its runtime
        // refused (the Docker engine away during `slipway down`) is carried on here.
        await this.finishRetiring(env);
      }
      await Promise.all(strays().map((i) => this.retire(i, { finalState: 'stopped', reason: null })));
      return { ok: true };
    } catch (e) {
      // The runtime could not be reached or refused: the reconciler retries with backoff.
      return { ok: false, reason: (e as Error).message };
    }
  }

  /** What the runtime said when it could not tell whether the instance runs; null while it can. */
  stateUnknownOf(instanceId: string): string | null {
    return this.unknownStates.get(instanceId) ?? null;
  }

  instancesOf(env: string, releaseId: number): InstanceRecord[] {
    return this.deps.store.liveInstances(env).filter((i) => i.releaseId === releaseId);
  }

  /**
   * Brings `release` to exactly `count` ready instances. New instances join the router
   * only once healthy; one that is not healthy by its deadline is stopped and the
   * step fails with the reason, having never received a request.
   */
  async scale(release: ReleaseRecord, count: number, isCancelled: () => boolean): Promise<ScaleOutcome> {
    await this.reapDead(release.env);
    await this.finishRetiring(release.env);
    let live = this.instancesOf(release.env, release.id).filter((i) => i.state === 'starting' || i.state === 'ready');
    if (live.length < count) {
      await this.deps.ensureReleaseDir(release);
      const launched: InstanceRecord[] = [];
      for (let n = live.length; n < count; n++) {
        try {
          if (this.isRefusingStarts) throw new Error('the server is stopping with its instances');
          launched.push(await launchInstance(this.deps, release));
        } catch (e) {
          await Promise.all(launched.map((i) => this.retire(i, { finalState: 'failed', reason: 'start of its batch failed' })));
          return { ok: false, reason: (e as Error).message };
        }
      }
      this.deps.onInstanceEvent(release.env, 'info', `starting ${launched.length} instance(s) of ${release.env}#${release.number}: ${launched.map((i) => i.id).join(', ')}`,
        'instance.started', { release: release.number, instances: launched.map((i) => i.id) });
      live = this.instancesOf(release.env, release.id).filter((i) => i.state === 'starting' || i.state === 'ready');
    }
    const starting = live.filter((i) => i.state === 'starting');
    const outcomes = await Promise.all(starting.map((i) => this.bringUp(i, release, isCancelled)));
    const failure = outcomes.find((o) => !o.ok);
    if (failure) {
      // Siblings of a failed batch never took traffic either: stop them all together.
      const stillStarting = this.instancesOf(release.env, release.id).filter((i) => i.state === 'starting');
      await Promise.all(stillStarting.map((i) => this.retire(i, { finalState: 'failed', reason: 'its batch failed' })));
      return failure;
    }
    const ready = this.instancesOf(release.env, release.id).filter((i) => i.state === 'ready');
    if (ready.length > count) {
      const extras = ready.slice(0, ready.length - count);
      this.deps.onInstanceEvent(release.env, 'info', `draining ${extras.length} instance(s) of ${release.env}#${release.number}: ${extras.map((i) => i.id).join(', ')}`,
        'instance.draining', { release: release.number, instances: extras.map((i) => i.id) });
      await Promise.all(extras.map((i) => this.retire(i, { finalState: 'stopped', reason: null })));
    }
    return { ok: true };
  }

  private async bringUp(instance: InstanceRecord, release: ReleaseRecord, isCancelled: () => boolean): Promise<ScaleOutcome> {
    const outcome = await waitUntilHealthy(this.deps, instance, release, isCancelled);
    if (!outcome.ready) {
      this.deps.onInstanceEvent(release.env, 'error', outcome.reason, 'instance.failed', { release: release.number, instance: instance.id });
      await this.retire(instance, { finalState: 'failed', reason: outcome.reason });
      return { ok: false, reason: outcome.reason };
    }
    this.deps.store.updateInstance(instance.id, { state: 'ready', readyAt: this.deps.clock.now() });
    await this.deps.routes.push();
    this.deps.onInstanceEvent(release.env, 'info', `instance ${instance.id} is healthy and receives traffic`, 'instance.ready', { release: release.number, instance: instance.id });
    return { ok: true };
  }

  /** Out of the router, drained (up to the drain timeout), SIGTERM, SIGKILL after the kill timeout. */
  retire(instance: InstanceRecord, opts: { finalState: 'stopped' | 'failed'; reason: string | null }): Promise<void> {
    const running = this.retiring.get(instance.id);
    if (running) return running;
    const job = this.retireNow(instance, opts).finally(() => this.retiring.delete(instance.id));
    this.retiring.set(instance.id, job);
    return job;
  }

  private async retireNow(instance: InstanceRecord, opts: { finalState: 'stopped' | 'failed'; reason: string | null }): Promise<void> {
    const { store } = this.deps;
    const release = store.getRelease(instance.releaseId);
    const shutdown = release?.config.shutdown ?? { drainTimeoutMs: 10_000, killTimeoutMs: 5_000 };
    const current = store.getInstance(instance.id) ?? instance;
    if (current.state === 'ready' || current.state === 'starting') {
      store.updateInstance(instance.id, { state: 'draining', ...(opts.reason ? { lastError: opts.reason } : {}) });
    }
    // Weights go to the others before the process stops: an instance stopped while
    // still routed would turn its share of requests into errors.
    await this.deps.routes.push();
    if (current.state !== 'stopping') {
      const handle = handleOf(current);
      const alive = handle !== null && (await runtimeOf(this.deps, current).isRunning(handle));
      if (alive) await this.deps.router.waitDrained(instance.id, shutdown.drainTimeoutMs);
      store.updateInstance(instance.id, { state: 'stopping' });
    }
    await stopInstanceProcess(this.deps, current, shutdown.killTimeoutMs);
    store.updateInstance(instance.id, { state: opts.finalState, stoppedAt: this.deps.clock.now() });
    this.unknownStates.delete(instance.id);
  }

  /**
   * After a restart: an instance recorded without a handle may still have been
   * started (the server died between the two); find it, or count it as never
   * started. Then each runtime takes back what it keeps for its running instances.
   */
  async adoptAll(): Promise<void> {
    for (const i of this.deps.store.liveInstances()) {
      const runtime = runtimeOf(this.deps, i);
      let handle = handleOf(i);
      if (!handle) {
        handle = await runtime.findById(i.id);
        if (handle) this.deps.store.updateInstance(i.id, { pid: handle.pid, procStart: handle.procStart, runtimeRef: handle.ref });
        else this.deps.store.updateInstance(i.id, { state: 'failed', lastError: 'the server stopped before this instance started', stoppedAt: this.deps.clock.now() });
      }
      if (handle && runtime.adopt) {
        await runtime.adopt(handle, { instanceId: i.id, logPath: i.logPath }).catch((e: Error) => this.deps.log.warn({ instance: i.id, err: e.message }, 'could not re-adopt an instance'));
      }
    }
    await this.removeOrphans();
  }

  /**
   * What the runtimes hold for instances with no live record (a container left by a
   * crash between its start and its record) goes, with a log line naming each.
   */
  async removeOrphans(): Promise<string[]> {
    const live = new Set(this.deps.store.liveInstances().map((i) => i.id));
    const removed: string[] = [];
    for (const runtime of Object.values(this.deps.runtimes)) {
      if (!runtime?.removeOrphans) continue;
      const ids = await runtime.removeOrphans((id) => live.has(id));
      if (ids.length) this.deps.log.warn({ runtime: runtime.name, instances: ids }, 'removed orphaned instances no record knows of');
      removed.push(...ids);
    }
    return removed;
  }

  /** Instances whose process is gone are taken out of the router at once. */
  async reapDead(env?: string): Promise<InstanceRecord[]> {
    const dead: InstanceRecord[] = [];
    for (const i of this.deps.store.liveInstances(env)) {
      if (this.retiring.has(i.id)) continue;
      const handle = handleOf(i);
      if (handle && (await this.isGone(i, handle))) dead.push(i);
    }
    if (dead.length === 0) return dead;
    for (const i of dead) {
      const wasServing = i.state === 'ready';
      this.deps.store.updateInstance(i.id, {
        state: i.state === 'draining' || i.state === 'stopping' ? 'stopped' : 'failed',
        stoppedAt: this.deps.clock.now(),
        ...(wasServing || i.state === 'starting' ? { lastError: 'process exited unexpectedly' } : {}),
      });
      if (wasServing) this.deps.onInstanceEvent(i.env, 'warn', `instance ${i.id} exited unexpectedly; removed from the router`, 'instance.exited', { instance: i.id, release: this.deps.store.getRelease(i.releaseId)?.number ?? null });
    }
    await this.deps.routes.push();
    // What an exited instance still holds goes too (a stopped container; nothing for a process).
    await Promise.all(dead.map((i) => stopInstanceProcess(this.deps, i, 0).catch(() => undefined)));
    return dead;
  }

  /**
   * Whether an instance's runtime says it no longer runs. A runtime that cannot be
   * asked (an unreachable Docker engine) counts as "still running": an instance is
   * never dropped from the router on a failed question.
   */
  private async isGone(i: InstanceRecord, handle: InstanceHandle): Promise<boolean> {
    let isRunning: boolean;
    try {
      isRunning = await runtimeOf(this.deps, i).isRunning(handle);
    } catch (e) {
      // Asked several times a second: said once when the state becomes unknown, once when it is known again.
      const reason = (e as Error).message;
      if (!this.unknownStates.has(i.id)) this.deps.log.warn({ instance: i.id, err: reason }, 'could not tell whether an instance runs');
      this.unknownStates.set(i.id, reason);
      return false;
    }
    if (this.unknownStates.delete(i.id)) this.deps.log.info({ instance: i.id, running: isRunning }, 'the state of an instance is known again');
    return !isRunning;
  }

  /** Carries on retirements that a crash interrupted (instances left draining or stopping). */
  async finishRetiring(env: string): Promise<void> {
    const pending = this.deps.store.liveInstances(env).filter((i) => i.state === 'draining' || i.state === 'stopping');
    await Promise.all(pending.map((i) => this.retire(i, { finalState: i.lastError ? 'failed' : 'stopped', reason: null })));
  }

  /** A server stopping with its instances: a rollout or restore still running starts none after this. */
  refuseStarts(): void {
    this.isRefusingStarts = true;
  }

  async stopAll(env: string): Promise<void> {
    const live = this.deps.store.liveInstances(env);
    await Promise.all(live.map((i) => this.retire(i, { finalState: 'stopped', reason: null })));
  }
}

