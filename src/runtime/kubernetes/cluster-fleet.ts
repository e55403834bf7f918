// Environments with `runtime: kubernetes`: the fleet port (core/ports/fleet.ts) on a
// cluster. The reconciler carries out the same plan steps as for instances on this
// machine, and this is what they become here: a scale step is a server-side apply of
// the release's Deployment with the replica count, gated on its pods being Ready;
// every change of traffic is an apply of the HTTPRoute (traffic: gateway) or a new
// router table (traffic: router, to each release's Service: see `backends`).
//
// What slipway asks of the cluster is recorded (ClusterRecords, core/ports/cluster-fleet.ts:
// SQLite's cluster_replicas) before it is sent, and every apply is idempotent: a
// restarted server re-applies the recorded state and the reconciler redoes the step
// it was at.

import { SlipwayError } from '../../core/errors.ts';
import { envNameOf } from '../../core/env-key.ts';
import type { ReleaseRecord } from '../../core/records.ts';
import type { Rollout } from '../../core/rollout.ts';
import type { EnvironmentSpec, RuntimeName } from '../../core/service-config.ts';
import { clusterSettingsOf, type ClusterFleetHooks } from '../../core/ports/cluster-fleet.ts';
import type { Fleet, FleetBackend, FleetPlacement, ScaleOutcome } from '../../core/ports/fleet.ts';
import type { ClusterApi } from './cluster-client.ts';
import { assertValidObjects } from './manifest-schema.ts';
import {
  clusterReleaseOf,
  deploymentFor,
  desiredObjects,
  environmentObjects,
  releaseObjects,
  releaseServiceUrl,
  secretFor,
  type ClusterObject,
  type ClusterState,
} from './manifests.ts';
import { LABELS, environmentName, environmentSelector, releaseName, releaseSelector, secretName } from './names.ts';
import { isPodReady, keepWatchingPods, restartsOf, waitForPods, watchRestarts } from './pod-readiness.ts';

/** The engine's hooks (core/ports/cluster-fleet.ts), and the clusters themselves. */
export interface ClusterFleetDeps extends ClusterFleetHooks {
  /** The cluster a kubeconfig context names (null: the current context, or the in-cluster account); absent: this server has none. */
  clusterFor?(context: string | null): ClusterApi;
  /** Restarts of one pod that count as a crash loop (default 2). */
  maxRestarts?: number;
}

/** Every pod of an environment as the cluster last reported it, kept by a long-lived watch. */
interface PodView {
  pods: Map<string, { release: number; ready: boolean; restarts: number }>;
  watch: { stop(): void } | null;
  synced: boolean;
}

export class ClusterFleet implements Fleet {
  readonly runtimes: readonly RuntimeName[] = ['kubernetes'];
  /** What was last applied, by object: an unchanged object is not sent again. */
  private readonly applied = new Map<string, string>();
  /** Environments whose whole recorded state has been applied since this server started. */
  private readonly asserted = new Set<string>();
  private readonly crashWatches = new Map<string, { rolloutId: number; stop(): void }>();
  /** Environments whose last traffic apply failed, with why. */
  private readonly trafficBehind = new Map<string, string>();
  /** Per environment, every pod as the cluster last reported it (a long-lived watch). */
  private readonly podViews = new Map<string, PodView>();

  constructor(private readonly deps: ClusterFleetDeps) {}

  private get maxRestarts(): number {
    return this.deps.maxRestarts ?? 2;
  }

  /** Ready replicas that get traffic, by release id. */
  serving(env: string): Record<number, number> {
    return Object.fromEntries(this.deps.records.replicas(env).filter((r) => r.serving > 0).map((r) => [r.releaseId, r.serving]));
  }

  /** traffic: router: each serving release is one backend, its Service, which spreads the share over ready pods. */
  backends(env: string, routing: ReleaseRecord): FleetBackend[] | null {
    const settings = clusterSettingsOf(routing);
    if (!settings || settings.traffic === 'gateway') return null;
    return Object.keys(this.serving(env)).map((id) => {
      const number = this.deps.records.release(Number(id))?.number ?? Number(id);
      const url = releaseServiceUrl({ service: routing.service, environment: envNameOf(env) }, settings.namespace, number);
      return { id: new URL(url).hostname, releaseId: Number(id), url };
    });
  }

  /**
   * A cluster and this machine share no instances, routes or traffic; nor do two
   * clusters, namespaces, or two ways of splitting the traffic: both sides would
   * have to serve at once. Moving is a new environment.
   */
  replaceRefusal(stable: ReleaseRecord, next: EnvironmentSpec): string | null {
    const was = stable.config.environment.kubernetes;
    const now = next.kubernetes;
    if (!was || !now) return null;
    for (const [key, a, b] of [['context', was.context, now.context], ['namespace', was.namespace, now.namespace], ['traffic', was.traffic, now.traffic]] as const) {
      if (a !== b) return `${stable.env} runs with kubernetes.${key}: ${a ?? '(current context)'} (#${stable.number}); slipway.yaml now says ${b ?? '(current context)'}. A rollout cannot move an environment there: deploy to a new environment and move traffic to it`;
    }
    return null;
  }

  assertCanRun(): void {
    if (!this.deps.clusterFor) throw new SlipwayError('E_RUNTIME_UNAVAILABLE', 'this slipway server has no kubernetes runtime');
  }

  /** On a cluster the image is named by slipway.yaml (kubernetes.image) and built by CI. */
  async prepareImage(): Promise<string | null> {
    return null;
  }

  async hasImage(): Promise<boolean> {
    return true;
  }

  placement(env: string): FleetPlacement | null {
    const settings = clusterSettingsOf(this.deps.records.routingRelease(env));
    if (!settings) return null;
    const live = this.livePods(env);
    return {
      context: settings.context, namespace: settings.namespace, traffic: settings.traffic,
      releases: this.deps.records.replicas(env).map((r) => {
        const number = this.deps.records.release(r.releaseId)?.number ?? 0;
        return { release: number, replicas: r.replicas, serving: r.serving, live: live ? live[number] ?? { ready: 0, pods: 0, restarts: 0 } : null };
      }),
    };
  }

  /** The environment as the cluster should have it, from the records; null when it does not run on one. */
  state(env: string): ClusterState | null {
    return this.stateAt(env, this.deps.records.routingRelease(env));
  }

  /**
   * The same, with `routing`'s settings. With no stable release (an environment
   * taken down), the newest release slipway recorded on the cluster says where.
   */
  private stateAt(env: string, routing: ReleaseRecord | null): ClusterState | null {
    const { records } = this.deps;
    const settings = clusterSettingsOf(routing);
    if (!routing || !settings) return null;
    const rows = records.replicas(env);
    const releases = rows.map((r) => records.release(r.releaseId)).filter((r): r is ReleaseRecord => r !== null).map(clusterReleaseOf);
    const weights = records.weights(env);
    return {
      ref: { service: routing.service, environment: envNameOf(env) },
      settings,
      pod: { portEnv: routing.config.run.portEnv, health: routing.config.health, shutdown: routing.config.shutdown },
      releases,
      replicas: Object.fromEntries(rows.map((r) => [r.releaseId, r.replicas])),
      // Always explicit: shares among what serves, as the router counts them.
      weights: Object.fromEntries(Object.entries(weights).map(([id, w]) => [Number(id), Math.round(w)])),
    };
  }

  private cluster(state: ClusterState): ClusterApi {
    this.assertCanRun();
    return this.deps.clusterFor!(state.settings.context);
  }

  /**
   * Brings `release` to `count` replicas. Growing: the Secret and Deployment first,
   * traffic only once that many pods are Ready. Shrinking: traffic first, then the
   * Deployment, then a wait until the extra pods are gone.
   */
  async scale(release: ReleaseRecord, count: number, isCancelled: () => boolean): Promise<ScaleOutcome> {
    const { records, clock } = this.deps;
    const env = release.env;
    const row = records.replicas(env).find((r) => r.releaseId === release.id) ?? { replicas: 0, serving: 0 };
    const growing = count > row.serving;
    records.setReplicas(env, release.id, { replicas: count, serving: growing ? row.serving : count }, clock.now());
    const state = this.state(env);
    if (state === null) return { ok: false, reason: `${env} does not run on a cluster` };
    const cr = state.releases.find((r) => r.id === release.id);
    if (!cr) return { ok: false, reason: `${env}#${release.number} is not recorded on the cluster` };
    try {
      if (!growing) await this.applyTrafficNow(env);
      if (growing && cr.secretNames.length > 0) await this.applySecret(state, release);
      await this.applyAll(state, releaseObjects(state, cr));
    } catch (e) {
      return { ok: false, reason: (e as Error).message };
    }
    const controller = new AbortController();
    const poll = clock.setInterval(() => isCancelled() && controller.abort(), 250);
    const { health, shutdown } = (cr.shape ?? state).pod;
    try {
      const waited = await waitForPods({
        api: this.cluster(state),
        namespace: state.settings.namespace,
        labelSelector: releaseSelector(state.ref, release.number),
        want: count,
        direction: growing ? 'up' : 'down',
        deadlineMs: growing ? health.startDeadlineMs : shutdown.drainTimeoutMs + shutdown.killTimeoutMs + 30_000,
        maxRestarts: this.maxRestarts,
        signal: controller.signal,
      });
      if (!waited.ok) return { ok: false, reason: `${env}#${release.number}: ${waited.reason}` };
    } finally {
      poll.cancel();
    }
    if (growing) {
      records.setReplicas(env, release.id, { replicas: count, serving: count }, clock.now());
      this.deps.onEvent(env, 'info', `${env}#${release.number}: ${count} pod(s) ready on the cluster`, 'instance.ready', { release: release.number, replicas: count });
      await this.applyTraffic(env);
    }
    return { ok: true };
  }

  /**
   * The stable Service and (traffic: gateway) the HTTPRoute, as the records split
   * traffic now. Never throws: a split the cluster did not take is logged and tried
   * again at each pass of the reconciler (sync) until it is.
   */
  async applyTraffic(env: string): Promise<void> {
    try {
      await this.applyTrafficNow(env);
      this.trafficBehind.delete(env);
    } catch (e) {
      const message = (e as Error).message;
      if (this.trafficBehind.get(env) !== message) this.deps.log.error({ env, err: message }, 'the cluster did not take the traffic split; retrying');
      this.trafficBehind.set(env, message);
    }
  }

  private async applyTrafficNow(env: string): Promise<void> {
    const state = this.state(env);
    if (state) await this.applyAll(state, environmentObjects(state));
  }

  /**
   * No rollout: the stable release at its size and every other one at zero. After a
   * start of the server, everything recorded is applied once more (a crash may have
   * come between the record and the apply); then old releases are collected.
   */
  async maintain(env: string, stable: ReleaseRecord | null): Promise<ScaleOutcome> {
    try {
      return await this.maintainNow(env, stable);
    } catch (e) {
      // The cluster could not be reached or refused: the reconciler retries with backoff.
      return { ok: false, reason: (e as Error).message };
    }
  }

  private async maintainNow(env: string, stable: ReleaseRecord | null): Promise<ScaleOutcome> {
    const { records } = this.deps;
    if (!stable) return this.stopEverything(env);
    if (!clusterSettingsOf(stable)) return { ok: true };
    const want = stable.config.environment.instances;
    const rows = records.replicas(env);
    const own = rows.find((r) => r.releaseId === stable.id);
    if (!own || own.replicas !== want || own.serving !== want || !this.asserted.has(env)) {
      const outcome = await this.scale(stable, want, () => records.rolloutUnderWay(env));
      if (!outcome.ok) return outcome;
    }
    for (const r of rows) {
      if (r.releaseId === stable.id || r.replicas === 0) continue;
      const release = records.release(r.releaseId);
      if (release) {
        const outcome = await this.scale(release, 0, () => records.rolloutUnderWay(env));
        if (!outcome.ok) return outcome;
      }
    }
    if (!this.asserted.has(env)) {
      const state = this.state(env);
      if (state) await this.applyAll(state, desiredObjects(state));
      this.asserted.add(env);
      await this.collectGarbage(env);
    }
    return { ok: true };
  }

  /** The newest release slipway recorded on the cluster for `env`, whatever its replicas; null when none. */
  private lastOnCluster(env: string): ReleaseRecord | null {
    const { records } = this.deps;
    const ids = records.replicas(env).map((r) => r.releaseId).sort((a, b) => b - a);
    for (const id of ids) {
      const release = records.release(id);
      if (release && clusterSettingsOf(release)) return release;
    }
    return null;
  }

  /**
   * No stable release (`slipway down`): traffic leaves the environment first (its
   * HTTPRoute is deleted, so the Gateway stops sending it anything), then every
   * release is scaled to zero and its pods are waited out. The Deployments stay, at
   * zero, so the history is kept and a rollback is still a scale-up.
   */
  private async stopEverything(env: string): Promise<ScaleOutcome> {
    const { records, clock } = this.deps;
    const anchor = this.lastOnCluster(env);
    const state = anchor ? this.stateAt(env, anchor) : null;
    if (!anchor || !state) return { ok: true };
    const running = records.replicas(env).filter((r) => r.replicas > 0 || r.serving > 0);
    if (running.length === 0 && this.asserted.has(`${env}:down`)) return { ok: true };
    const api = this.cluster(state);
    const at = { namespace: state.settings.namespace };
    if (state.settings.traffic === 'gateway') {
      await api.delete({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', name: environmentName(state.ref), ...at });
    }
    // A later deploy applies everything again, the deleted route first of all.
    this.applied.clear();
    this.asserted.delete(env);
    for (const row of running) {
      const release = records.release(row.releaseId);
      if (!release) continue;
      records.setReplicas(env, release.id, { replicas: 0, serving: 0 }, clock.now());
      const now = this.stateAt(env, anchor)!;
      const cr = now.releases.find((r) => r.id === release.id);
      if (!cr) continue;
      await this.applyAll(now, [deploymentFor(now, cr)]);
      const { shutdown } = (cr.shape ?? now).pod;
      const waited = await waitForPods({
        api, namespace: at.namespace, labelSelector: releaseSelector(now.ref, release.number), want: 0, direction: 'down',
        deadlineMs: shutdown.drainTimeoutMs + shutdown.killTimeoutMs + 30_000, maxRestarts: this.maxRestarts, signal: new AbortController().signal,
      });
      if (!waited.ok) return { ok: false, reason: `${env}#${release.number}: ${waited.reason}` };
    }
    this.asserted.add(`${env}:down`);
    return { ok: true };
  }

  /**
   * `slipway remove`: every object slipway made for the environment goes from the
   * cluster (each release's Deployment, Service and Secret, the stable Service and
   * the HTTPRoute), and so do its records here. Called after `stopEverything`.
   */
  async forget(env: string): Promise<void> {
    const { records } = this.deps;
    const anchor = this.lastOnCluster(env);
    const state = anchor ? this.stateAt(env, anchor) : null;
    if (!anchor || !state) return;
    const api = this.cluster(state);
    const { ref } = state;
    const at = { namespace: state.settings.namespace };
    const numbers = new Set(state.releases.map((r) => r.number));
    // Releases the records lost (an old one collected here, a crash between two calls) are found by label.
    for (const d of await api.listDeployments(at.namespace, environmentSelector(ref))) {
      const n = Number(d.metadata?.labels?.[LABELS.release]);
      if (Number.isInteger(n)) numbers.add(n);
    }
    for (const n of [...numbers].sort((a, b) => a - b)) {
      await api.delete({ apiVersion: 'apps/v1', kind: 'Deployment', name: releaseName(ref, n), ...at });
      await api.delete({ apiVersion: 'v1', kind: 'Service', name: releaseName(ref, n), ...at });
      await api.delete({ apiVersion: 'v1', kind: 'Secret', name: secretName(ref, n), ...at });
    }
    await api.delete({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', name: environmentName(ref), ...at });
    await api.delete({ apiVersion: 'v1', kind: 'Service', name: environmentName(ref), ...at });
    for (const r of records.replicas(env)) records.dropRelease(env, r.releaseId);
    this.applied.clear();
    this.asserted.delete(env);
    this.asserted.delete(`${env}:down`);
    this.deps.log.info({ env, releases: [...numbers] }, `deleted every object of ${env} from the cluster`);
  }

  /** After a rollout ends: old releases beyond the history limit go at the next maintenance. */
  rolloutEnded(env: string): void {
    this.asserted.delete(env);
  }

  /** Each reconciler pass: a traffic split the cluster has not taken yet is applied again, and crash loops are watched for. */
  async sync(env: string, rollout: Rollout | null): Promise<void> {
    if (this.trafficBehind.has(env)) await this.applyTraffic(env);
    this.watchCrashes(env, rollout);
    this.watchPods(env);
  }

  /**
   * Pods of each release as the cluster reports them now (Ready ones, all, and their
   * restarts), for status: what slipway asked for is recorded; this is what runs.
   * null until the watch has reported.
   */
  livePods(env: string): Record<number, { ready: number; pods: number; restarts: number }> | null {
    const view = this.podViews.get(env);
    if (!view?.synced) return null;
    const out: Record<number, { ready: number; pods: number; restarts: number }> = {};
    for (const p of view.pods.values()) {
      const r = (out[p.release] ??= { ready: 0, pods: 0, restarts: 0 });
      r.pods++;
      if (p.ready) r.ready++;
      r.restarts += p.restarts;
    }
    return out;
  }

  private watchPods(env: string): void {
    if (this.podViews.has(env)) return;
    const state = this.state(env);
    if (!state) return;
    const view: PodView = { pods: new Map(), watch: null, synced: false };
    this.podViews.set(env, view);
    view.watch = keepWatchingPods({
      api: this.cluster(state),
      namespace: state.settings.namespace,
      labelSelector: environmentSelector(state.ref),
      // Each opening lists every pod again: start from an empty picture.
      onOpen: () => {
        view.pods.clear();
        view.synced = false;
      },
      // A watch lists what exists first; a moment later the picture is whole.
      onOpened: () => void this.deps.clock.setTimeout(() => (view.synced = true), 300),
      onEvent: (type, pod) => {
        const name = pod.metadata?.name ?? '';
        if (type === 'DELETED') view.pods.delete(name);
        else if (type === 'ADDED' || type === 'MODIFIED') {
          view.pods.set(name, { release: Number(pod.metadata?.labels?.[LABELS.release]), ready: isPodReady(pod), restarts: restartsOf(pod) });
        }
      },
    });
  }

  /**
   * While a rollout runs, its new release's pods are watched: one that keeps
   * restarting aborts the rollout then, during a pause or an analysis too.
   */
  private watchCrashes(env: string, rollout: Rollout | null): void {
    const current = this.crashWatches.get(env);
    const wanted = rollout !== null && rollout.phase !== 'aborting' && rollout.fromReleaseId !== null ? rollout : null;
    if (current && current.rolloutId === wanted?.id) return;
    if (!current && (!wanted || !clusterSettingsOf(this.deps.records.release(wanted.toReleaseId)))) return;
    current?.stop();
    this.crashWatches.delete(env);
    if (!wanted) return;
    const release = this.deps.records.release(wanted.toReleaseId);
    const state = this.state(env);
    if (!release || !state) return;
    const watch = watchRestarts({
      api: this.cluster(state),
      namespace: state.settings.namespace,
      labelSelector: releaseSelector(state.ref, release.number),
      maxRestarts: this.maxRestarts,
      onCrash: (reason) => this.deps.onCrash(env, wanted.id, `${env}#${release.number}: ${reason}`),
    });
    this.crashWatches.set(env, { rolloutId: wanted.id, stop: () => watch.stop() });
  }

  stop(): void {
    for (const w of this.crashWatches.values()) w.stop();
    this.crashWatches.clear();
    for (const v of this.podViews.values()) v.watch?.stop();
    this.podViews.clear();
  }

  /**
   * Deletes releases beyond the history limit: Deployments at zero replicas that no
   * record keeps running, oldest first, keeping the newest `history` of them so that
   * a rollback is only a scale-up.
   */
  async collectGarbage(env: string): Promise<number[]> {
    const { records } = this.deps;
    const state = this.state(env);
    if (!state) return [];
    const { ref, settings } = state;
    const api = this.cluster(state);
    const running = new Set(records.replicas(env).filter((r) => r.replicas > 0).map((r) => records.release(r.releaseId)?.number));
    const deployments = await api.listDeployments(settings.namespace, environmentSelector(ref));
    const idle = deployments
      .filter((d) => (d.spec?.replicas ?? 0) === 0)
      .map((d) => Number(d.metadata?.labels?.[LABELS.release]))
      .filter((n) => Number.isInteger(n) && !running.has(n))
      .sort((a, b) => b - a);
    const doomed = idle.slice(settings.historyLimit);
    for (const number of doomed) {
      const at = { namespace: settings.namespace };
      await api.delete({ apiVersion: 'apps/v1', kind: 'Deployment', name: releaseName(ref, number), ...at });
      await api.delete({ apiVersion: 'v1', kind: 'Service', name: releaseName(ref, number), ...at });
      await api.delete({ apiVersion: 'v1', kind: 'Secret', name: secretName(ref, number), ...at });
      const gone = records.releaseByNumber(env, number);
      if (gone) records.dropRelease(env, gone.id);
      for (const key of [...this.applied.keys()]) if (key.endsWith(`/${releaseName(ref, number)}`) || key.endsWith(`/${secretName(ref, number)}`)) this.applied.delete(key);
    }
    if (doomed.length > 0) this.deps.log.info({ env, releases: doomed }, `deleted ${doomed.length} old release(s) from the cluster (history ${settings.historyLimit})`);
    return doomed;
  }

  private async applySecret(state: ClusterState, release: ReleaseRecord): Promise<void> {
    const cr = clusterReleaseOf(release);
    const values = await this.deps.resolveSecrets(release);
    const missing = cr.secretNames.filter((n) => values[n] === undefined);
    if (missing.length > 0) throw new Error(`no value for secret(s) ${missing.join(', ')} of ${release.env}#${release.number}`);
    const secret = secretFor(state, cr, Object.fromEntries(cr.secretNames.map((n) => [n, values[n]!])));
    assertValidObjects([secret]);
    // Not cached: the cache would hold the values in memory as text.
    await this.cluster(state).apply(secret);
  }

  private async applyAll(state: ClusterState, objects: ClusterObject[]): Promise<void> {
    assertValidObjects(objects);
    const api = this.cluster(state);
    for (const obj of objects) {
      const key = `${state.settings.context ?? ''}/${obj.metadata?.namespace}/${obj.kind}/${obj.metadata?.name}`;
      const text = JSON.stringify(obj);
      if (this.applied.get(key) === text) continue;
      await api.apply(obj);
      this.applied.set(key, text);
    }
  }
}
