// Drives one environment's rollouts on a cluster: the plan steps of core/plans.ts
// (the same as for processes) carried out as applies of the objects manifests.ts
// makes, gated on pod readiness, with abort, rollback and the collection of old
// releases. The decisions that need slipway's router metrics (analysis) and people
// (pauses) are asked of the caller through hooks.

import { planAbort, planFor, planRolling, type Step } from '../../core/plans.ts';
import type { Strategy } from '../../core/service-config.ts';
import type { ClusterApi } from './cluster-client.ts';
import { assertValidObjects } from './manifest-schema.ts';
import {
  desiredObjects,
  environmentObjects,
  releaseObjects,
  routerUpstreams,
  secretFor,
  stateAfterStep,
  type ClusterObject,
  type ClusterRelease,
  type ClusterState,
} from './manifests.ts';
import { LABELS, environmentSelector, releaseName, releaseSelector, secretName } from './names.ts';
import { waitForPods, watchRestarts } from './pod-readiness.ts';

export interface RolloutHooks {
  /** A pause step; null duration waits for a person. 'abort' aborts the rollout. */
  pause(step: Extract<Step, { type: 'pause' }>, signal: AbortSignal): Promise<'go' | 'abort'>;
  /** An analysis step, answered from the router's (or Prometheus') figures. */
  analysis(step: Extract<Step, { type: 'analysis' }>, signal: AbortSignal): Promise<'pass' | 'fail'>;
  /** traffic: router only: hand the new split to slipway's router in the cluster. */
  routeWeights?(upstreams: ReturnType<typeof routerUpstreams>): Promise<void>;
  onEvent?(message: string): void;
}

export type RolloutOutcome =
  | { phase: 'succeeded' }
  | { phase: 'rolled_back'; reason: string }
  | { phase: 'failed'; reason: string };

export interface ClusterRolloutOptions {
  api: ClusterApi;
  /** The environment as it stands: releases on the cluster, their replicas and the split. */
  state: ClusterState;
  /** The secret values of a release's pods; asked only when its Secret is applied. */
  secretValues(release: ClusterRelease): Promise<Record<string, string>>;
  /** Restarts of one pod that count as a crash loop. */
  maxRestarts?: number;
}

class AbortRequested extends Error {}

export class ClusterRollout {
  private state: ClusterState;
  private readonly applied = new Map<string, string>();
  private routedTo: string | null = null;
  private abortController = new AbortController();
  private abortReason: string | null = null;

  constructor(private readonly o: ClusterRolloutOptions) {
    this.state = o.state;
  }

  private get maxRestarts(): number {
    return this.o.maxRestarts ?? 2;
  }

  get current(): ClusterState {
    return this.state;
  }

  /** Asks the running rollout to abort (as `slipway abort` does); it returns rolled_back. */
  abort(reason = 'aborted by request'): void {
    this.abortReason ??= reason;
    this.abortController.abort();
  }

  /** Moves the environment from its stable release to `next` by the strategy. */
  async rollOut(o: { next: ClusterRelease; stable: ClusterRelease | null; strategy: Strategy; instances: number; hooks: RolloutHooks }): Promise<RolloutOutcome> {
    const { next, stable } = o;
    this.abortController = new AbortController();
    this.abortReason = null;
    const stableCount = stable ? (this.state.replicas[stable.id] ?? 0) : 0;
    this.state = {
      ...this.state,
      releases: [...this.state.releases.filter((r) => r.id !== next.id), next],
      // Rolling lets traffic follow the ready pods; the others hold it all on stable until a weights step.
      weights: o.strategy.type === 'rolling' || stable === null ? null : { [stable.id]: 100 },
    };
    const steps = planFor(o.strategy, { stableReleaseId: stable?.id ?? null, stableCount, newReleaseId: next.id, instances: o.instances });
    // For the whole rollout, not only while a step waits: a canary that starts
    // crash-looping during a pause or an analysis aborts at once.
    const restarts = watchRestarts({
      api: this.o.api,
      namespace: this.state.settings.namespace,
      labelSelector: releaseSelector(this.state.ref, next.number),
      maxRestarts: this.maxRestarts,
      onCrash: (reason) => this.abort(`r${next.number}: ${reason}`),
    });
    try {
      for (const step of steps) await this.carryOut(step, o.hooks);
    } catch (e) {
      restarts.stop();
      if (!(e instanceof AbortRequested)) throw e;
      const reason = this.abortReason ?? e.message;
      o.hooks.onEvent?.(`aborting: ${reason}`);
      await this.undo({ stable, next, instances: o.instances, hooks: o.hooks });
      return stable === null ? { phase: 'failed', reason } : { phase: 'rolled_back', reason };
    }
    restarts.stop();
    await this.collectGarbage();
    return { phase: 'succeeded' };
  }

  /** Back to an earlier release by the rolling path; its Deployment, kept at zero, only scales up. */
  async rollBack(o: { to: ClusterRelease; from: ClusterRelease; instances: number; hooks: RolloutHooks }): Promise<RolloutOutcome> {
    return this.rollOut({ next: o.to, stable: o.from, strategy: { type: 'rolling', batch: { percent: 100 }, maxUnavailable: { count: 0 } }, instances: o.instances, hooks: o.hooks });
  }

  // Abort: all traffic to stable first, then stable to full size, then the new release to zero.
  private async undo(o: { stable: ClusterRelease | null; next: ClusterRelease; instances: number; hooks: RolloutHooks }): Promise<void> {
    const steps: Step[] = o.stable ? [{ type: 'weights', weights: { [o.stable.id]: 100 } }] : [];
    steps.push(...planAbort({ stableReleaseId: o.stable?.id ?? null, instances: o.instances, newReleaseId: o.next.id }));
    for (const step of steps) await this.carryOut(step, o.hooks, { undoing: true });
  }

  private checkAbort(): void {
    if (this.abortController.signal.aborted) throw new AbortRequested(this.abortReason ?? 'aborted');
  }

  private async carryOut(step: Step, hooks: RolloutHooks, o: { undoing?: boolean } = {}): Promise<void> {
    if (!o.undoing) this.checkAbort();
    const signal = o.undoing ? new AbortController().signal : this.abortController.signal;
    switch (step.type) {
      case 'scale':
        return this.scale(step, hooks, { signal, undoing: !!o.undoing });
      case 'weights':
        this.state = stateAfterStep(this.state, step);
        hooks.onEvent?.(`traffic ${Object.entries(step.weights).map(([id, w]) => `r${this.numberOf(Number(id))} ${w}%`).join(', ')}`);
        return this.applyTraffic(hooks);
      case 'pause':
        if ((await hooks.pause(step, signal)) === 'abort') this.abort('aborted while paused');
        return this.checkAbort();
      case 'analysis':
        if ((await hooks.analysis(step, signal)) === 'fail') this.abort('analysis failed');
        return this.checkAbort();
      case 'preview':
        return;
    }
  }

  private numberOf(id: number): number {
    return this.state.releases.find((r) => r.id === id)?.number ?? id;
  }

  private async scale(step: Extract<Step, { type: 'scale' }>, hooks: RolloutHooks, o: { signal: AbortSignal; undoing: boolean }): Promise<void> {
    const release = this.state.releases.find((r) => r.id === step.releaseId);
    if (release === undefined) throw new Error(`release id ${step.releaseId} is not part of this environment`);
    const before = this.state.replicas[release.id] ?? 0;
    this.state = stateAfterStep(this.state, step);
    hooks.onEvent?.(`r${release.number} to ${step.count} replica(s)`);
    const growing = step.count > before;
    // Growing: pods first, traffic once they are ready. Shrinking: traffic first, so
    // no share is left on pods that are going away.
    if (!growing) await this.applyTraffic(hooks);
    if (growing && release.secretNames.length > 0) await this.applySecret(release);
    await this.applyAll(releaseObjects(this.state, release));
    const health = this.state.pod.health;
    const waited = await waitForPods({
      api: this.o.api,
      namespace: this.state.settings.namespace,
      labelSelector: releaseSelector(this.state.ref, release.number),
      want: step.count,
      direction: growing ? 'up' : 'down',
      deadlineMs: growing ? health.startDeadlineMs : this.state.pod.shutdown.drainTimeoutMs + this.state.pod.shutdown.killTimeoutMs + 30_000,
      maxRestarts: this.maxRestarts,
      signal: o.signal,
    });
    if (!waited.ok) {
      if (o.undoing) {
        hooks.onEvent?.(`r${release.number}: ${waited.reason}`);
        return;
      }
      this.abort(waited.reason === 'aborted' ? (this.abortReason ?? 'aborted') : `r${release.number}: ${waited.reason}`);
      this.checkAbort();
    }
    if (growing) await this.applyTraffic(hooks);
  }

  private async applyTraffic(hooks: RolloutHooks): Promise<void> {
    await this.applyAll(environmentObjects(this.state));
    if (this.state.settings.traffic !== 'router' || hooks.routeWeights === undefined) return;
    const upstreams = routerUpstreams(this.state);
    const text = JSON.stringify(upstreams);
    if (text === this.routedTo) return;
    await hooks.routeWeights(upstreams);
    this.routedTo = text;
  }

  private async applySecret(release: ClusterRelease): Promise<void> {
    const values = await this.o.secretValues(release);
    const missing = release.secretNames.filter((n) => values[n] === undefined);
    if (missing.length > 0) throw new Error(`no value for secret(s) ${missing.join(', ')} of r${release.number}`);
    const secret = secretFor(this.state, release, Object.fromEntries(release.secretNames.map((n) => [n, values[n]!])));
    assertValidObjects([secret]);
    await this.o.api.apply(secret);
  }

  /** Applies the objects that differ from what this driver last applied; an apply is idempotent, so a repeat is harmless. */
  private async applyAll(objects: ClusterObject[]): Promise<void> {
    assertValidObjects(objects);
    for (const obj of objects) {
      const key = `${obj.apiVersion}/${obj.kind}/${obj.metadata?.name}`;
      const text = JSON.stringify(obj);
      if (this.applied.get(key) === text) continue;
      await this.o.api.apply(obj);
      this.applied.set(key, text);
    }
  }

  /** Everything this state wants on the cluster, applied at once: after a restart of slipway, say. */
  async applyState(): Promise<void> {
    await this.applyAll(desiredObjects(this.state));
  }

  /**
   * Deletes the releases beyond the history limit: those with no replicas, oldest
   * first, keeping the newest `historyLimit` of them for a fast rollback.
   */
  async collectGarbage(): Promise<number[]> {
    const { ref, settings } = this.state;
    const deployments = await this.o.api.listDeployments(settings.namespace, environmentSelector(ref));
    const idle = deployments
      .filter((d) => (d.spec?.replicas ?? 0) === 0)
      .map((d) => Number(d.metadata?.labels?.[LABELS.release]))
      .filter((n) => Number.isInteger(n))
      .sort((a, b) => b - a);
    const doomed = idle.slice(settings.historyLimit);
    for (const number of doomed) {
      const at = { namespace: settings.namespace };
      await this.o.api.delete({ apiVersion: 'apps/v1', kind: 'Deployment', name: releaseName(ref, number), ...at });
      await this.o.api.delete({ apiVersion: 'v1', kind: 'Service', name: releaseName(ref, number), ...at });
      await this.o.api.delete({ apiVersion: 'v1', kind: 'Secret', name: secretName(ref, number), ...at });
      const gone = this.state.releases.find((r) => r.number === number);
      if (gone) {
        const { [gone.id]: _dropped, ...replicas } = this.state.replicas;
        this.state = { ...this.state, releases: this.state.releases.filter((r) => r !== gone), replicas };
      }
      for (const key of [...this.applied.keys()]) if (key.endsWith(`/${releaseName(ref, number)}`)) this.applied.delete(key);
    }
    return doomed;
  }
}

