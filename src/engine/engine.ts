// The engine: what the API asks for (deploy, rollback, status), turned into
// recorded releases and rollouts that the reconciler carries out.

import type { TlsStatus } from './tls/tls-keeper.ts';
import type { AuditInput } from '../store/audit-log.ts';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { SlipwayError } from '../core/errors.ts';
import { unpackError } from './unpack-error.ts';
import { envKey, envNameOf, envSlug, isEnvKey, splitEnvKey } from '../core/env-key.ts';
import type { ArtefactRecord, ReleaseRecord } from '../core/records.ts';
import { planFor } from '../core/plans.ts';
import { commandRefusal, isTerminal, type Rollout, type RolloutEvent, type RolloutKind } from '../core/rollout.ts';
import type { ServiceConfig, Strategy } from '../core/service-config.ts';
import { unpackArtefact } from '../artefact/index.ts';
import type { DataDirPaths } from '../store/data-dir.ts';
import { appDataDir } from '../store/app-data-dir.ts';
import type { StateStore } from '../store/state-store.ts';
import type { RuntimeSet } from './runtime-set.ts';
import { receiveArtefact } from './artefact-store.ts';
import { AnalysisMonitor } from './analysis-monitor.ts';
import { HealthMonitor } from './health-monitor.ts';
import { MetricsSampler } from './metrics-sampler.ts';
import { ShadowJudge } from './shadow-judge.ts';
import type { ShadowVerdict } from '../core/shadow/shadow-verdict.ts';
import { InstanceFleet } from './instance-fleet.ts';
import { serverUserIdentity, systemClock, type Clock, type EngineLogger, type Fleet, type HostIdentity, type MakeClusterFleet, type TrafficRouter } from './ports.ts';
import { Reconciler, applyRolloutEvent } from './reconciler.ts';
import { RouteSync, routingRelease } from './route-sync.ts';
import { describeEnvironment, type EnvironmentStatus } from './status-view.ts';
import { TrafficGates } from './traffic-gates.ts';
import type { Secrets } from '../security/secrets.ts';
import { ConfigVersions } from './config-versions.ts';
import type { DeployPlan } from './deploy-plan.ts';
import { ConfigReleases, hashConfig, type ConfigChangeAnswer, type ConfigChangeRequest } from './config-releases.ts';
import type { EventType } from '../core/events.ts';
import { EventBus } from '../observe/event-bus.ts';
import { EventFeed } from './event-feed.ts';
import type { SigningKey } from '../security/signing-key.ts';
import { ArtefactTrust } from './artefact-trust.ts';
import { BlobArtefacts } from './blob-artefacts.ts';
import { ServiceBlobStores } from '../store/blob-store.ts';
import { assertDeployAllowed, PolicyGate } from './deploy-gates.ts';
import { PolicyStore, type PolicyVersion } from '../store/policy-store.ts';
import type { HostPolicy } from '../core/policy.ts';
import { PipelineRunner } from './pipeline/pipeline-runner.ts';
import { FleetSet } from './fleet-set.ts';
import { clusterRecordsOf } from './cluster-records.ts';
import { EnvironmentTeardown } from './environment-teardown.ts';
import { readReplaySample } from '../router/shadow/replay-store.ts';
import { ReleaseRetention } from './release-retention.ts';
import { ListenGuard, type ListenCheck, type ProbeAnswer, type ServerListener } from './listen-guard.ts';
import type { ListenAddress } from '../core/service-config.ts';

export { hashConfig, type ConfigChangeAnswer, type ConfigChangeRequest } from './config-releases.ts';
export type { PolicyVersion } from '../store/policy-store.ts';

export interface EngineDeps {
  store: StateStore;
  /** The runtimes this server offers; each environment names the one it uses. */
  runtimes: RuntimeSet;
  router: TrafficRouter;
  paths: DataDirPaths;
  log: EngineLogger;
  /** Stored and external secrets; every value it hands out is masked in logs. */
  secrets: Secrets;
  /** The server's Ed25519 key: signs artefact manifests, checked before every deploy. */
  signingKey: SigningKey;
  /** Time for every wait and timer of the engine (default: the system's); in-process tests pass a manual one. */
  clock?: Clock;
  /**
   * Who runs the deployer's code on this host and how the trees given to users are
   * removed (server.ts: the process runtime's). Default: the server's own user for
   * everything, for fleets that give nothing away (ports.ts).
   */
  identity?: HostIdentity;
  /**
   * Fleets that run releases in place of the built-in ones, for the runtimes each
   * names (in-process tests: a fleet of fake units on virtual time).
   */
  fleets?: Fleet[];
  /** Where the engine records what it decides by itself (automatic rollbacks), beside what users do through the API. */
  audit?: { append(entry: AuditInput): unknown };
  /** Where events are published (SSE, webhooks, metrics subscribe to it); one is made if absent. */
  events?: EventBus;
  /**
   * Makes the fleet of environments with runtime: kubernetes from what the engine
   * gives it (server.ts: runtime/kubernetes's, over the clusters kubeconfig contexts
   * name). Absent: such environments are refused.
   */
  clusterFleet?: MakeClusterFleet;
  /**
   * Addresses the server itself listens on (its API, the router's admin API): no
   * environment may listen there. Read at each deploy.
   */
  serverListeners?: () => ServerListener[];
  /** How an address not yet held is tried before a deploy (default: a real bind on this host). */
  probeListen?: (address: ListenAddress) => Promise<ProbeAnswer>;
  /** Each finished pipeline stage, for the server's metrics. */
  onPipelineStage?: (o: { stage: string; outcome: string; seconds: number }) => void;
  /** How a host name in a URL of slipway.yaml is resolved for the policy check (default: the system resolver). */
  resolveHost?: (host: string) => Promise<string[]>;
}

/** How a rollback of a canary or blue-green environment goes: every old instance up first, then the new ones out. */
const ROLLBACK_PATH: Strategy = { type: 'rolling', batch: { percent: 100 }, maxUnavailable: { count: 0 } };

export interface DeployRequest {
  env: string;
  artefactDigest: string;
  config: ServiceConfig;
  actor: string;
  /** Deploy even when the artefact and config equal the stable release's. */
  force?: boolean;
}

export interface DeployAnswer {
  release: ReleaseRecord;
  rollout: Rollout | null;
  unchanged: boolean;
}

export class Engine {
  readonly store: StateStore;
  readonly routes: RouteSync;
  private readonly fleet: InstanceFleet;
  /** Environments with runtime: kubernetes; null: this engine was given no cluster fleet. */
  private readonly cluster: Fleet | null;
  /** What runs each release, by its runtime: the engine never asks which one it is. */
  private readonly fleets: FleetSet;
  private readonly reconciler: Reconciler;
  private readonly monitor: HealthMonitor;
  readonly sampler: MetricsSampler;
  readonly analysis: AnalysisMonitor;
  /** Verdicts of shadow steps, from the router's shadow figures. */
  readonly shadow: ShadowJudge;
  readonly configs: ConfigVersions;
  private readonly configReleases: ConfigReleases;
  private readonly listen: ListenGuard;
  /** The admin's host policy, checked for every release (deploy-gates.ts). */
  private readonly policy: PolicyGate;
  private readonly policies: PolicyStore;
  private readonly clock: Clock;
  private readonly identity: HostIdentity;
  /** Publish events here (rollout, step, analysis, approval, instance); see observe/event-bus.ts. */
  readonly events: EventBus;
  private readonly feed: EventFeed;
  readonly trust: ArtefactTrust;
  /** Artefacts assembled from file blobs: deploys that send only what changed (blob-artefacts.ts). */
  readonly blobs: BlobArtefacts;
  /** Certificates of environments with tls: (tls/keep-tls.ts sets it); null: status shows none. */
  tls: { status(env: string): TlsStatus | null; assertUsable(env: string, spec: ReleaseRecord['config']['environment']): Promise<void> } | null = null;
  /** Release pipeline runs, driven here in the server (see pipeline/pipeline-runner.ts). */
  readonly pipeline: PipelineRunner;
  /** `slipway down` and `slipway remove` (environment-teardown.ts). */
  readonly teardown: EnvironmentTeardown;
  /** Maintenance and traffic pauses, per environment (traffic-gates.ts). */
  readonly traffic: TrafficGates;
  /** Old releases' trees, artefacts and images go (release-retention.ts). */
  readonly retention: ReleaseRetention;

  constructor(private readonly deps: EngineDeps) {
    this.store = deps.store;
    this.clock = deps.clock ?? systemClock;
    this.identity = deps.identity ?? serverUserIdentity;
    this.events = deps.events ?? new EventBus({ store: deps.store.observe, now: () => this.clock.now(), onError: (m, e) => deps.log.warn({ err: (e as Error).message }, m) });
    this.feed = new EventFeed({ store: deps.store, bus: this.events, clock: this.clock });
    // Blobs no kept artefact was made of go whenever artefacts are collected.
    this.trust = new ArtefactTrust({ store: deps.store, key: deps.signingKey, now: () => this.clock.now(), onCollected: () => this.blobs.sweep() });
    this.blobs = new BlobArtefacts({
      blobs: new ServiceBlobStores(deps.paths.blobs), store: deps.store, trust: this.trust, artefactsDir: deps.paths.artefacts, now: () => this.clock.now(),
      onSweep: (r) => { if (r.blobsRemoved > 0) deps.log.info(r, 'collected file blobs no kept artefact was made of'); },
    });
    this.configs = new ConfigVersions({ store: deps.store, secrets: deps.secrets, clock: this.clock });
    this.listen = new ListenGuard({
      store: deps.store, serverListeners: deps.serverListeners ?? (() => []), listenErrors: () => this.routes.listenerErrors,
      ...(deps.probeListen ? { probe: deps.probeListen } : {}),
    });
    this.policies = new PolicyStore(deps.store.db);
    this.policy = new PolicyGate({
      policies: this.policies, serverListeners: deps.serverListeners ?? (() => []), environmentNames: () => deps.store.listEnvironmentNames(),
      readUrl: (env, spec) => deps.secrets.readExternal({ env, name: 'webhook url' }, spec),
      ...(deps.resolveHost ? { resolve: deps.resolveHost } : {}),
    });
    this.configReleases = new ConfigReleases({
      store: deps.store, configs: this.configs, clock: this.clock,
      assertWithinPolicy: (c) => this.policy.assertAllowed(c),
      assertUnlocked: (env) => this.assertUnlocked(env),
      assertListenAvailable: (env, environment) => this.listen.assertAvailable({ env, environment, remedy: CONFIG_CHANGE_REMEDY }),
      createRollout: (o) => this.createRollout(o),
      readyCount: (env, releaseId) => this.readyCount(env, releaseId),
    });
    this.fleet = new InstanceFleet({
      store: deps.store, runtimes: deps.runtimes, router: deps.router, routes: { push: () => this.routes.push() }, clock: this.clock, log: deps.log,
      logsDir: deps.paths.logs,
      appDataDirOf: (r) => appDataDir(deps.paths.root, r.service, envNameOf(r.env)),
      watchingSince: this.clock.now(),
      ensureReleaseDir: (r) => this.ensureReleaseDir(r),
      resolveSecrets: (r) => deps.secrets.resolve(r.env, r.config.secrets),
      onInstanceEvent: (env, level, message, type, data) => this.recordEnvEvent(env, level, message, { type, data }),
    });
    this.cluster = deps.clusterFleet?.({
      records: clusterRecordsOf(deps.store, () => this.fleets),
      clock: this.clock, log: deps.log,
      resolveSecrets: (r) => deps.secrets.resolve(r.env, r.config.secrets),
      onEvent: (env, level, message, type, data) => this.recordEnvEvent(env, level, message, { type, data }),
      onCrash: (env, rolloutId, reason) => {
        this.recordEvent(rolloutId, 'error', `crash loop: ${reason}`);
        void this.command(env, { type: 'abort', reason, cause: 'failure' }).catch((e: Error) => this.deps.log.warn({ env, err: e.message }, 'abort after a crash loop refused'));
      },
    }) ?? null;
    this.fleets = new FleetSet([this.fleet, ...(this.cluster ? [this.cluster] : []), ...(deps.fleets ?? [])]);
    this.routes = new RouteSync(deps.store, this.fleets, deps.router, deps.log);
    this.retention = new ReleaseRetention({
      store: deps.store, fleets: this.fleets, releasesDir: deps.paths.releases, identity: this.identity, log: deps.log, now: () => this.clock.now(),
      ...(deps.audit ? { audit: deps.audit } : {}),
      rollbackTargetOf: (env) => this.previousStable(env, this.store.getStableReleaseId(env))?.id ?? null,
      onArtefactsRemoved: () => this.blobs.sweep(),
    });
    this.traffic = new TrafficGates({ store: deps.store, clock: this.clock, log: deps.log, push: () => this.routes.push() });
    this.reconciler = new Reconciler({
      store: deps.store, fleets: this.fleets, clock: this.clock, log: deps.log,
      recordEvent: (id, level, message, data) => this.recordEvent(id, level, message, data),
      pushRoutes: (env) => this.pushTraffic(env),
      checkRoutes: () => this.routes.checkDrift(),
      stepVerdict: (r) => this.analysis.stepVerdict(r),
      shadowVerdict: (r, step, endsAt) => this.shadow.verdict(r, step.shadow, endsAt),
      onSucceeded: (r) => this.analysis.startWatch(r),
      onTransition: (prev, next, e) => {
        this.freshenOnAbort(prev, next);
        this.feed.transition(prev, next, e);
        // After each rollout: anything a crash or a failed stop left behind goes.
        if (isTerminal(next.phase) && !isTerminal(prev.phase)) void this.fleet.removeOrphans().catch(() => undefined);
        // A release that succeeded moves the rollback target on: what is now beyond the kept ones goes.
        if (next.phase === 'succeeded' && prev.phase !== 'succeeded') this.sweepReleases(`after rollout #${next.id}`);
      },
    });
    this.teardown = new EnvironmentTeardown({
      store: deps.store, fleets: this.fleets, clock: this.clock, log: deps.log, paths: deps.paths, identity: this.identity,
      pushRoutes: () => this.routes.push(), sentRoutes: () => this.routes.sentTable(), wake: (env) => this.reconciler.wake(env),
      assertUnlocked: (env) => this.assertUnlocked(env), isKnown: (env) => this.isKnownEnvironment(env),
      releasePipelineUser: (service) => this.pipeline.releaseUser(service),
    });
    this.sampler = new MetricsSampler({ store: deps.store, router: deps.router, runtimes: deps.runtimes, clock: this.clock, log: deps.log });
    this.analysis = new AnalysisMonitor({
      store: deps.store, sampler: this.sampler, clock: this.clock, log: deps.log,
      actions: {
        abort: (env, rolloutId, reason, result) => {
          this.recordEvent(rolloutId, 'error', `automatic rollback: ${reason}`, { checks: result.checks });
          this.auditAutomatic(env, 'rollout.auto_abort', `rollout ${rolloutId}`, reason, result.checks);
          this.feed.automaticRollback(env, rolloutId, reason, this.store.getRollout(rolloutId)?.fromReleaseId ?? null);
          void this.command(env, { type: 'abort', reason, cause: 'failure' }).catch((e: Error) => this.deps.log.warn({ env, err: e.message }, 'automatic abort refused'));
        },
        rollBack: (env, rolloutId, toReleaseId, reason, result) => {
          const to = this.store.getRelease(toReleaseId);
          this.recordEvent(rolloutId, 'error', `automatic rollback: ${reason}`, { checks: result.checks });
          this.auditAutomatic(env, 'rollout.auto_rollback', `release ${to?.number ?? toReleaseId}`, reason, result.checks);
          this.feed.automaticRollback(env, rolloutId, reason, toReleaseId);
          if (to) void this.rollback({ env, to: to.number, actor: 'slipway-analysis' }).catch((e: Error) => this.deps.log.error({ env, err: e.message }, 'automatic rollback refused'));
        },
        record: (rolloutId, level, message, data) => this.recordEvent(rolloutId, level, message, data),
        watchEvent: (env, view, level) => this.feed.watch(env, view, level),
        result: (rolloutId, what, result) => this.feed.analysis(rolloutId, what, result),
      },
    });
    this.sampler.onSample(() => this.analysis.tick());
    this.shadow = new ShadowJudge({
      sampler: this.sampler, now: () => this.clock.now(),
      secretsOf: async (r) => {
        const releases = [r.toReleaseId, r.fromReleaseId].map((id) => (id === null ? undefined : this.store.getRelease(id)));
        const values = await Promise.all(releases.map((rel) => (rel ? deps.secrets.resolve(rel.env, rel.config.secrets).then(Object.values) : [])));
        return values.flat();
      },
    });
    this.pipeline = new PipelineRunner({
      host: this, workDir: join(deps.paths.root, 'pipeline'), releasesDir: deps.paths.releases, identity: this.identity, clock: this.clock, log: deps.log,
      // The router's keeper writes what it records under its state directory (router/shadow/replay-store.ts).
      replay: {
        sample: (env, limit) => readReplaySample(join(deps.paths.router, 'replay'), env, limit),
        backends: (env, release) => this.fleets.of(release).backends(env, release)?.filter((b) => b.releaseId === release.id).map((b) => b.url) ?? null,
        secrets: async (releases) => (await Promise.all(releases.map((rel) => deps.secrets.resolve(rel.env, rel.config.secrets).then(Object.values)))).flat(),
      },
      ...(deps.onPipelineStage ? { onStageFinished: deps.onPipelineStage } : {}),
      onRunFinished: (service) => this.teardown.runEnded(service),
      publish: (e) => this.events.publish(e),
    });
    this.monitor = new HealthMonitor({
      store: deps.store, fleet: this.fleet, clock: this.clock,
      onUnhealthy: (env, message) => {
        this.recordEnvEvent(env, 'warn', message, { type: 'instance.failed', data: {} });
        this.reconciler.wake(env);
      },
    });
  }

  private auditAutomatic(env: string, action: string, target: string, reason: string, checks: unknown): void {
    try {
      this.deps.audit?.append({ actor: 'slipway-analysis', action, env, target, requestId: null, outcome: 'ok', details: { reason, checks } });
    } catch (e) {
      this.deps.log.error({ env, err: (e as Error).message }, 'could not write the audit entry');
    }
  }

  /** Re-adopts what a previous server left running and resumes every rollout. */
  async start(): Promise<void> {
    this.blobs.removeSharedLayout();
    await this.routes.seed();
    await this.fleet.adoptAll();
    await this.fleet.reapDead();
    this.traffic.start();
    await this.routes.push();
    const envs = new Set([...this.store.listEnvironmentNames(), ...this.store.liveInstances().map((i) => i.env)]);
    for (const env of envs) this.reconciler.wake(env);
    this.monitor.start();
    // Before the first sample: the windows a previous server had open go on from their start.
    this.analysis.resume();
    this.sampler.start();
    this.pipeline.start();
    // Also what a sweep a crash interrupted left, and releases of a server that never ran one.
    this.sweepReleases('at server start');
  }

  async stop(): Promise<void> {
    this.traffic.stop();
    await this.pipeline.stop();
    this.monitor.stop();
    this.sampler.stop();
    for (const fleet of this.fleets.all()) fleet.stop();
    await this.reconciler.stop();
    await this.retention.idle();
  }

  private sweepReleases(why: string): void {
    void this.retention.sweep(why).catch((e: Error) => this.deps.log.warn({ err: e.message, why }, 'release retention failed; it runs again after the next rollout'));
  }

  /** The router's table, and wherever else the environment's fleet splits traffic (a cluster's HTTPRoute), from the records. */
  private async pushTraffic(env: string): Promise<void> {
    await this.routes.push();
    const routing = routingRelease(this.store, env);
    if (routing) await this.fleets.of(routing).applyTraffic(env);
  }

  /** Units of a release (instances, or a cluster's replicas) that are ready and get traffic. */
  private readyCount(env: string, releaseId: number): number {
    const release = this.store.getRelease(releaseId);
    return release ? this.fleets.of(release).serving(env)[releaseId] ?? 0 : 0;
  }

  async receiveArtefact(body: Readable, claimedDigest: string, service: string, uploader = 'unknown'): Promise<ArtefactRecord> {
    const record = await receiveArtefact({ store: this.store, dir: this.deps.paths.artefacts, tmpDir: this.deps.paths.tmp, body, claimedDigest, service, now: this.clock.now() });
    // Its digest was checked as it arrived: from here on, the signature vouches for it.
    this.trust.signUpload(record, uploader);
    return record;
  }

  /** Stores an artefact the pipeline built (its manifest is signed by the build, not as an upload). */
  storeArtefact(body: Readable, digest: string, service: string): Promise<ArtefactRecord> {
    return receiveArtefact({ store: this.store, dir: this.deps.paths.artefacts, tmpDir: this.deps.paths.tmp, body, claimedDigest: digest, service, now: this.clock.now() });
  }

  /**
   * What a deploy would change (artefact, config keys, size, strategy, steps);
   * records nothing. Refuses what the deploy would refuse for the admin's policy and
   * its listen addresses. `full` false (a caller who may not deploy there): no
   * secret is read, no host name resolved and no port probed; the plan says so.
   */
  async planDeploy(ask: DeployRequest, opts: { full: boolean } = { full: true }): Promise<DeployPlan> {
    const req = { ...ask, env: keyOfDeploy(ask.env, ask.config.service) };
    // The gates a deploy would meet (staging success, approval, freeze), before the
    // CLI uploads anything: a refused production deploy costs no upload.
    assertDeployAllowed({ store: this.store, env: req.env, digest: req.artefactDigest, config: req.config, nowMs: this.clock.now() });
    const held = this.store.getArtefact(req.artefactDigest);
    if (held) assertArtefactOfService(held, req.config.service);
    const onServer = held !== null && held !== undefined && existsSync(held.path);
    const described = await this.configReleases.plan({ ...req, readSecrets: opts.full });
    const plan = { ...described, artefact: { ...described.artefact, onServer } };
    const check = { env: req.env, environment: req.config.environments[envNameOf(req.env)]! };
    if (!opts.full) {
      this.listen.assertUnclaimed(check);
      return { ...plan, limited: LIMITED_PLAN };
    }
    await this.listen.assertAvailable(check);
    return plan;
  }

  /** The admin's policy, for settings as written (no name resolved, nothing read): a pipeline run's before it builds. */
  assertWithinPolicy(env: string, config: ServiceConfig): void {
    const environment = config.environments[envNameOf(env)];
    if (environment) this.policy.assertAllowedNow({ env: envKey(config.service, envNameOf(env)), environment });
  }

  /**
   * For a URL the server reads at call time (a webhook's url_from, at each delivery,
   * its name resolved then): throws E_POLICY_DENIED when today's policy does not
   * allow the environment to call it. For server.ts's webhook notifier to use.
   */
  assertUrlAllowed(env: string, key: string, url: string): Promise<void> {
    return this.policy.assertUrlAllowed({ env, key, url });
  }

  /** The admin's host policy now; null when none was ever set (the defaults hold). */
  currentPolicy(): PolicyVersion | null {
    return this.policies.latest();
  }

  /** Records the admin's next policy; it holds for every release made from now on. */
  setPolicy(o: { policy: HostPolicy; text: string; actor: string }): PolicyVersion {
    return this.policies.insert({ policy: o.policy, text: o.text, createdAt: this.clock.now(), createdBy: o.actor });
  }

  /** A change of config or secrets alone: the next config version, released as the stable artefact (see ConfigReleases). */
  changeConfig(req: ConfigChangeRequest): Promise<ConfigChangeAnswer> {
    return this.configReleases.change(req);
  }

  /** Deployed to at least once, or given config through the CLI. */
  isKnownEnvironment(env: string): boolean {
    return this.configReleases.isKnownEnvironment(env);
  }

  /**
   * The key an API path's environment names: `production` and `shop/production` are
   * shop's production for a path, when only shop has one. Throws E_ENV_AMBIGUOUS
   * for a bare name that several services have; a name no service has yet is
   * returned as it is (a deploy makes the key from its slipway.yaml's service).
   */
  resolveEnvironment(ref: string): string {
    if (isEnvKey(ref)) return ref;
    const keys = this.store.listEnvironmentNames().filter((k) => k === ref || envNameOf(k) === ref);
    if (keys.length <= 1) return keys[0] ?? ref;
    throw new SlipwayError('E_ENV_AMBIGUOUS', `${keys.length} services have an environment "${ref}": ${keys.join(', ')}; name one (the CLI: --service, or run it where the service's slipway.yaml is)`, { env: ref, candidates: keys });
  }

  async deploy(ask: DeployRequest): Promise<DeployAnswer> {
    // Retention leaves this artefact's tree, file and image alone until the release is recorded.
    return this.retention.holding(ask.artefactDigest, () => this.deployHeld(ask));
  }

  private async deployHeld(ask: DeployRequest): Promise<DeployAnswer> {
    // By construction: the key a deploy writes under is made from its own slipway.yaml's service.
    const req = { ...ask, env: keyOfDeploy(ask.env, ask.config.service) };
    this.assertRuntimeKept(req);
    const build = await this.configReleases.candidate(req);
    const artefact = this.store.getArtefact(req.artefactDigest);
    if (!artefact || !existsSync(artefact.path)) {
      throw new SlipwayError('E_NOT_FOUND', `artefact ${req.artefactDigest} is not on the server; upload it first (slipway deploy does both)`, { digest: req.artefactDigest });
    }
    assertArtefactOfService(artefact, req.config.service);
    assertDeployAllowed({ store: this.store, env: req.env, digest: artefact.digest, config: req.config, nowMs: this.clock.now() });
    let config = build();
    let configHash = hashConfig(config);
    this.assertUnlocked(req.env);
    await this.listen.assertAvailable({ env: req.env, environment: config.environment });
    // Certificate files that cannot serve are refused now, not found after the release.
    await this.tls?.assertUsable(req.env, config.environment);
    // A runtime or a run.user this server cannot honour is refused now, not when the first instance fails to start.
    this.fleets.of({ config }).assertCanRun({ config });
    const stableId = this.store.getStableReleaseId(req.env);
    const stable = stableId === null ? null : this.store.getRelease(stableId);
    if (!req.force && stable && stable.artefactDigest === artefact.digest && stable.configHash === configHash) {
      return { release: stable, rollout: null, unchanged: true };
    }
    // Re-hashes the artefact (0.3 s per 100 MB): only for a deploy that will run it,
    // not for one that changes nothing.
    await this.trust.verify(artefact.digest);
    // One directory per environment, side by side (the process runtime gives each its own uid by them): shop.production.
    const dir = join(this.deps.paths.releases, envSlug(req.env), `${artefact.digest.slice(7, 23)}`);
    const unpackedNow = await this.unpackOnce(artefact, dir);
    // A revert deployed as an artefact this environment unpacked before brings back a
    // tree whose files carry an older time than those just served.
    // The stable release's own tree (a forced redeploy) is what serves now: left as it is.
    if (!unpackedNow && stable?.dir !== dir) this.freshenTree({ env: req.env, config, dir, number: null });
    const imageId = await this.prepareImage(config, req.env, artefact);
    // Synchronous from here: the lock check and the inserts cannot interleave with another request.
    return this.store.atomically(() => {
      this.assertUnlocked(req.env);
      config = build();
      configHash = hashConfig(config);
      this.store.ensureEnvironment(req.env);
      const release = this.store.insertRelease({
        env: req.env, service: req.config.service, artefactDigest: artefact.digest, config, configHash, dir, imageId,
        createdAt: this.clock.now(), createdBy: req.actor,
      });
      const rollout = this.createRollout({ release, kind: 'deploy', actor: req.actor });
      return { release, rollout, unchanged: false };
    });
  }

  /**
   * The fleet that runs the environment now must run it after the rollout too: two
   * fleets (this machine and a cluster; two clusters) share no instances, routes or
   * traffic, and a rollout needs both sides serving at once. Moving is a new environment.
   */
  private assertRuntimeKept(req: DeployRequest): void {
    const next = req.config.environments[envNameOf(req.env)];
    if (!next) return;
    const fleet = this.fleets.named(next.runtime);
    const stableId = this.store.getStableReleaseId(req.env);
    const stable = stableId === null ? null : this.store.getRelease(stableId);
    if (!stable) return;
    if (this.fleets.of(stable) !== fleet) {
      throw new SlipwayError('E_BAD_REQUEST', `${req.env} runs on ${stable.config.environment.runtime} (#${stable.number}); slipway.yaml now says runtime: ${next.runtime}. A rollout cannot move an environment between a cluster and this machine: deploy to a new environment and move traffic to it`, { env: req.env });
    }
    const refusal = fleet.replaceRefusal(stable, next);
    if (refusal) throw new SlipwayError('E_BAD_REQUEST', refusal, { env: req.env });
  }

  /**
   * A container runtime's image for the release about to be recorded: built from the
   * artefact's Dockerfile (or the referenced image checked), kept for rollback. null
   * when the fleet needs none (local processes; a cluster, whose image CI builds).
   */
  private async prepareImage(config: ReleaseRecord['config'], env: string, artefact: ArtefactRecord): Promise<string | null> {
    const started = this.clock.now();
    const id = await this.fleets.of({ config }).prepareImage({ runtime: config.environment.runtime, service: config.service, env, image: config.image, artefactPath: artefact.path, artefactDigest: artefact.digest });
    if (id !== null) this.deps.log.info({ env, image: id, ms: this.clock.now() - started }, `image of ${config.service} for ${env} ready`);
    return id;
  }

  /** A rollback never pulls: the image of the release it goes back to must still be on the engine. */
  private async assertImageKept(release: ReleaseRecord): Promise<void> {
    if (release.imageId === null) return;
    const runtime = release.config.environment.runtime;
    if (!(await this.fleets.of(release).hasImage(runtime, release.imageId))) {
      throw new SlipwayError('E_IMAGE_MISSING', `the image of ${release.env}#${release.number} (${release.imageId}) is no longer on the ${runtime} engine, and a rollback never pulls; deploy that version again to rebuild it`, { env: release.env, image: release.imageId });
    }
  }

  /** Redeploys the previous stable release (or release number `to`) by the rolling path. */
  async rollback(req: { env: string; to?: number; actor: string }): Promise<{ release: ReleaseRecord; rollout: Rollout }> {
    const active = this.store.activeRollout(req.env);
    if (active && req.to === undefined && active.phase !== 'aborting') {
      // Going back while a rollout is under way is its abort: one traffic switch to stable.
      const rollout = await this.command(req.env, { type: 'abort', reason: `rollback requested by ${req.actor}` });
      const stable = rollout.fromReleaseId === null ? null : this.store.getRelease(rollout.fromReleaseId);
      if (stable) return { release: stable, rollout };
    }
    // The artefact going back into service is checked like any deploy's, before the lock is taken.
    const peek = req.to !== undefined ? this.store.getReleaseByNumber(req.env, req.to) : this.previousStable(req.env, this.store.getStableReleaseId(req.env));
    // Said before any check reads its artefact, which retention removed with the rest.
    if (peek) this.retention.assertKept(peek, 'roll back to');
    // Found kept in this same turn, so no sweep under way removes anything of it: a
    // rollback (the watch window's too) does not wait for one to finish its images.
    return this.retention.holding(peek?.artefactDigest ?? null, () => this.rollbackTo(req, peek), { waitForSweep: false });
  }

  private async rollbackTo(req: { env: string; to?: number; actor: string }, peek: ReleaseRecord | null): Promise<{ release: ReleaseRecord; rollout: Rollout }> {
    // Today's policy decides, not the one the release was made under: an address or a
    // secret the admin has since taken away is not given back by going back.
    if (peek) await this.policy.assertAllowed({ env: req.env, environment: peek.config.environment, subject: `rollback to ${req.env}#${peek.number}`, lookUp: true });
    if (peek) await this.trust.verify(peek.artefactDigest);
    const candidate = req.to !== undefined ? this.store.getReleaseByNumber(req.env, req.to) : this.previousStable(req.env, this.store.getStableReleaseId(req.env));
    if (candidate) await this.assertImageKept(candidate);
    if (candidate) await this.listen.assertAvailable(listenCheckOf(candidate, 'rollback'));
    // Its tree served before the release it replaces: its files must look newer to caches.
    if (candidate) this.freshenTree(candidate);
    return this.store.atomically(() => {
      this.assertUnlocked(req.env);
      const stableId = this.store.getStableReleaseId(req.env);
      const target = req.to !== undefined ? this.store.getReleaseByNumber(req.env, req.to) : this.previousStable(req.env, stableId);
      if (!target) {
        throw new SlipwayError('E_NO_RELEASE', req.to !== undefined ? `${req.env} has no release #${req.to}; see slipway releases ${req.env}` : `${req.env} has no earlier release to roll back to`, { env: req.env });
      }
      if (target.id === stableId) {
        throw new SlipwayError('E_BAD_REQUEST', `${req.env}#${target.number} is already the stable release`, { env: req.env });
      }
      // Again here: a sweep may have retired it while the checks above ran.
      this.retention.assertKept(target, 'roll back to');
      if (!existsSync(this.store.getArtefact(target.artefactDigest)?.path ?? '')) {
        throw new SlipwayError('E_NO_RELEASE', `the artefact of ${req.env}#${target.number} is no longer on the server`, { env: req.env });
      }
      // The stable release changed since the candidate was looked up (rare): this one's tree too.
      if (target.id !== candidate?.id) this.freshenTree(target);
      return { release: target, rollout: this.createRollout({ release: target, kind: 'rollback', actor: req.actor }) };
    });
  }

  /** An abort sends everything back to the stable release: its files must look newer than the new one's. */
  private freshenOnAbort(prev: Rollout, next: Rollout): void {
    if (next.phase !== 'aborting' || prev.phase === 'aborting' || next.fromReleaseId === null) return;
    const stable = this.store.getRelease(next.fromReleaseId);
    if (stable) this.freshenTree(stable);
  }

  /**
   * Gives a release tree that serves again the time of now. Static-file servers
   * answer If-Modified-Since and ETags from mtime and size: a release brought back
   * with its old times (a rollback, an abort, a revert deployed as the same
   * artefact) looked unmodified to a browser holding the newer release's page, and
   * that page stayed. Only for the process runtime, whose instances serve the tree.
   * Called before the rollout is recorded (it runs `find`, not for a transaction to
   * wait on), and never for a tree this request unpacked.
   */
  private freshenTree(release: Pick<ReleaseRecord, 'env' | 'config' | 'dir'> & { number: number | null }): void {
    if (release.config.environment.runtime !== 'process' || !existsSync(release.dir)) return;
    const name = release.number === null ? `${release.env}'s new release` : `${release.env}#${release.number}`;
    try {
      // The files' time on this host, not the engine's clock (a test's may be virtual).
      this.identity.touchTree(release.dir, new Date());
    } catch (e) {
      this.deps.log.warn({ env: release.env, dir: release.dir, err: (e as Error).message }, `could not give ${name}'s files the time of now: caches may keep the newer release's files`);
    }
  }

  private previousStable(env: string, stableId: number | null): ReleaseRecord | null {
    if (stableId === null) return null;
    const made = this.store.newestSucceededRolloutTo(env, stableId);
    return made?.fromReleaseId ? this.store.getRelease(made.fromReleaseId) : null;
  }

  private createRollout(opts: { release: ReleaseRecord; kind: RolloutKind; actor: string }): Rollout {
    const { release } = opts;
    // Again in the transaction that records the rollout: another environment's deploy
    // may have taken the address since this one was checked.
    this.listen.assertUnclaimed(listenCheckOf(release, opts.kind));
    // Likewise the policy: the admin may have narrowed it since the release was checked.
    this.policy.assertAllowedNow({ env: release.env, environment: release.config.environment, ...(opts.kind === 'deploy' ? {} : { subject: `${opts.kind} of ${release.env}#${release.number}` }) });
    const stableId = this.store.getStableReleaseId(release.env);
    const stableCount = stableId === null ? 0 : this.readyCount(release.env, stableId);
    const configured = release.config.environment.strategy;
    // A rollback goes back to a release that has served: by the rolling path, not
    // through a canary's pauses and analysis or a blue-green's manual promotion, which
    // would leave `slipway rollback` (or an automatic one) waiting for a person.
    const strategy = opts.kind === 'rollback' && configured.type !== 'rolling' ? ROLLBACK_PATH : configured;
    const steps = planFor(strategy, {
      stableReleaseId: stableId, stableCount, newReleaseId: release.id, instances: release.config.environment.instances,
    });
    const now = this.clock.now();
    // Canary and blue-green keep every request on the stable release until a weights
    // step says otherwise; rolling lets traffic follow the ready instances.
    const traffic = strategy.type !== 'rolling' && stableId !== null && stableCount > 0 ? { [stableId]: 100 } : null;
    const rollout = this.store.insertRollout({
      env: release.env, kind: opts.kind, fromReleaseId: stableId, toReleaseId: release.id, phase: 'pending',
      plan: { steps }, stepIndex: 0, stepStartedAt: null, traffic, preview: null, reason: null, createdBy: opts.actor,
      createdAt: now, updatedAt: now, finishedAt: null,
    });
    this.recordEvent(rollout.id, 'info', `${opts.kind} of ${release.env}#${release.number} requested by ${opts.actor} (${strategy.type})`);
    queueMicrotask(() => this.reconciler.wake(release.env));
    return rollout;
  }

  /**
   * pause / resume / promote / abort of the environment's active rollout. The
   * decision is saved, then the router is told at once (an abort's traffic switch
   * does not wait for the reconciler's next pass), then the reconciler is woken.
   */
  async command(env: string, e: Extract<RolloutEvent, { type: 'pause' | 'resume' | 'promote' | 'abort' }>): Promise<Rollout> {
    const active = this.store.activeRollout(env);
    if (!active) throw new SlipwayError('E_ROLLOUT_STATE', `${env} has no rollout in progress`, { env });
    const refusal = commandRefusal(active, e);
    if (refusal) throw new SlipwayError('E_ROLLOUT_STATE', refusal, { env, rolloutId: active.id, phase: active.phase });
    const who = 'by' in e ? e.by : '';
    const what = e.type === 'abort' ? `abort: all traffic back to the stable release (${e.reason})` : `${e.type}${e.type === 'promote' && e.full ? ' --full' : ''} by ${who}`;
    // The decision and its record in one transaction, then straight to the router.
    const next = this.store.atomically(() => {
      const n = applyRolloutEvent(this.store, active, e, this.clock.now());
      this.recordEvent(n.id, e.type === 'abort' ? 'warn' : 'info', what);
      return n;
    });
    if (next !== active) {
      this.freshenOnAbort(active, next);
      this.feed.transition(active, next, e);
    }
    await this.pushTraffic(env);
    this.reconciler.wake(env);
    return next;
  }

  private assertUnlocked(env: string): void {
    const active = this.store.activeRollout(env);
    if (!active) return;
    const to = this.store.getRelease(active.toReleaseId);
    const age = Math.round((this.clock.now() - active.createdAt) / 1000);
    throw new SlipwayError(
      'E_ENV_LOCKED',
      `${env} is busy: rollout #${active.id} (${active.kind} of ${env}#${to?.number ?? '?'} by ${active.createdBy}, started ${age}s ago, ${active.phase}) holds it; wait for it to finish`,
      { env, rolloutId: active.id, holder: active.createdBy },
    );
  }

  /** true when this call unpacked it; false when the tree was there already. */
  private async unpackOnce(artefact: ArtefactRecord, dir: string): Promise<boolean> {
    if (existsSync(dir)) return false;
    mkdirSync(join(dir, '..'), { recursive: true });
    // A large artefact (Node-RED: 8,000 files) takes seconds, more on a busy host:
    // the log says when it began and how long it took, so a slow deploy shows where.
    const started = performance.now();
    this.deps.log.info({ digest: artefact.digest, dir }, `unpacking artefact ${artefact.digest.slice(0, 19)}… into ${dir}`);
    try {
      // A release's files carry the time it was unpacked, so caches see each release as new.
      const r = await unpackArtefact({ file: artefact.path, targetDir: dir, expectedDigest: artefact.digest, fileTimes: 'unpacked' });
      const ms = Math.round(performance.now() - started);
      this.deps.log.info({ digest: artefact.digest, files: r.fileCount, bytes: r.bytes, ms }, `unpacked ${r.fileCount} files in ${(ms / 1000).toFixed(1)}s`);
      return true;
    } catch (e) {
      if (existsSync(dir)) return false; // another request unpacked the same artefact first
      if (!(e instanceof SlipwayError)) throw e;
      this.deps.log.warn({ digest: artefact.digest, file: artefact.path, dir, err: e.message }, `could not unpack artefact ${artefact.digest.slice(0, 19)}…`);
      throw unpackError(e, { file: artefact.path, digest: artefact.digest, dir });
    }
  }

  /** A crash between recording a release and unpacking it leaves no directory: unpack again. */
  private async ensureReleaseDir(release: ReleaseRecord): Promise<void> {
    // Never unpacked again: a retired release is not run (release-retention.ts).
    this.retention.assertKept(release, 'start instances of');
    const artefact = this.store.getArtefact(release.artefactDigest);
    if (!artefact) throw new SlipwayError('E_NO_RELEASE', `artefact ${release.artefactDigest} of ${release.env}#${release.number} is missing`);
    await this.unpackOnce(artefact, release.dir);
  }

  private recordEvent(rolloutId: number, level: 'info' | 'warn' | 'error', message: string, data?: Record<string, unknown>): void {
    this.store.addRolloutEvent({ rolloutId, ts: this.clock.now(), level, message, data: data ?? null });
    this.deps.log[level]({ rolloutId, ...data }, message);
  }

  /** An instance event goes to the environment's active rollout, if any, and always to the log. */
  private recordEnvEvent(env: string, level: 'info' | 'warn' | 'error', message: string, event: { type: EventType; data: Record<string, unknown> }): void {
    const active = this.store.activeRollout(env);
    if (active) this.store.addRolloutEvent({ rolloutId: active.id, ts: this.clock.now(), level, message, data: null });
    this.deps.log[level]({ env }, message);
    this.events.publish({ type: event.type, env, rolloutId: active?.id ?? null, level, message, data: event.data });
  }

  status(env?: string): EnvironmentStatus[] {
    const names = env ? [env] : this.store.listEnvironmentNames();
    if (env && !this.store.listEnvironmentNames().includes(env)) {
      throw new SlipwayError('E_ENV_UNKNOWN', `nothing has been deployed to "${env}" yet`, { env });
    }
    return names.map((n) => {
      const s = describeEnvironment(this.store, this.fleets, n, this.routes.listenerErrors[n] ?? null);
      const tls = this.tls?.status(n);
      const shown = s.rollout ?? s.lastRollout;
      return { ...s, analysis: s.rollout ? this.analysis.latestResult(s.rollout.id) : null, shadow: shown ? this.shadow.latest(n, shown.id) ?? this.recordedShadow(shown.id) : null, watch: this.analysis.watchView(n), down: this.teardown.downMark(n), traffic: this.traffic.view(n), recorded: this.sampler.recordedCounts().get(n) ?? null, ...(tls ? { tls } : {}) };
    });
  }

  /** The last shadow verdict a rollout's events hold (a verdict given before a server restart). */
  private recordedShadow(rolloutId: number): ShadowVerdict | null {
    const events = this.store.rolloutEvents(rolloutId);
    for (let i = events.length - 1; i >= 0; i--) {
      const v = (events[i]!.data as { shadow?: ShadowVerdict } | null)?.shadow;
      if (v) return v;
    }
    return null;
  }

  /** Drains and stops every instance (for `demo --once` and tests), leaving state consistent. */
  async stopAllInstances(): Promise<void> {
    // First, so that a rollout step or a restore still running when the reconciler's
    // grace ends cannot start an instance after the sweep below: it would outlive the server.
    this.fleet.refuseStarts();
    await this.pipeline.stop();
    await this.reconciler.stop();
    this.monitor.stop();
    this.sampler.stop();
    // A launch already under way when starts were refused is recorded by the time a
    // sweep has stopped the others: sweep until none is left (three at most).
    for (let sweep = 0; sweep < 3; sweep++) {
      const envs = this.store.listEnvironmentNames();
      if (sweep > 0 && envs.every((env) => this.store.liveInstances(env).length === 0)) break;
      for (const env of envs) await this.fleet.stopAll(env);
    }
    await this.retention.idle();
  }
}

/**
 * The environment a deploy of `service`'s slipway.yaml writes under: its own
 * service's, whatever the path said. A path naming another service's environment
 * is refused, never followed.
 */
function keyOfDeploy(ref: string, service: string): string {
  const named = splitEnvKey(ref);
  if (named.service !== null && named.service !== service) {
    throw new SlipwayError('E_SERVICE_MISMATCH', `${ref} is an environment of service "${named.service}"; this slipway.yaml is service "${service}", and a deploy never touches another service's environment. Deploy it as ${envKey(service, named.environment)}`, { env: ref, service, owner: named.service });
  }
  return envKey(service, named.environment);
}

/**
 * An artefact runs only as the service it was uploaded, assembled or built for: a
 * token that may deploy blog, and can read shop's digest in its status, cannot run
 * shop's artefact under blog. Artefacts from CLIs that did not say (`unknown`) are
 * not judged.
 */
function assertArtefactOfService(artefact: ArtefactRecord, service: string): void {
  if (artefact.service === service || artefact.service === 'unknown') return;
  throw new SlipwayError('E_SERVICE_MISMATCH', `artefact ${artefact.digest} is service "${artefact.service}"'s; this slipway.yaml is service "${service}", and a service runs only its own artefacts. Deploy from "${service}"'s own tree`, { digest: artefact.digest, service, owner: artefact.service });
}

const LIMITED_PLAN = 'planned without deploy permission in this environment: no secret was read, no host name resolved and no listen address probed; a deploy checks them all';

/** A config change keeps the stable release's addresses: only a deploy can move them. */
const CONFIG_CHANGE_REMEDY = 'deploy with another address in slipway.yaml first';

/**
 * The listen check of a release about to be rolled out. A rollback goes back to an
 * earlier release's addresses: if one is taken now, the way out is another release.
 */
function listenCheckOf(release: ReleaseRecord, kind: RolloutKind): ListenCheck {
  const check = { env: release.env, environment: release.config.environment };
  switch (kind) {
    case 'rollback':
      return { ...check, subject: `rollback to ${release.env}#${release.number}`, remedy: 'free that address, or roll back to another release' };
    case 'config':
      return { ...check, remedy: CONFIG_CHANGE_REMEDY };
    case 'deploy':
      return check;
  }
}
