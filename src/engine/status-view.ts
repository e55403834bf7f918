// The read side: what `slipway status` and the API show of an environment.

import { splitEnvKey } from '../core/env-key.ts';
import type { TlsStatus } from './tls/tls-keeper.ts';
import type { TrafficGateView } from './traffic-gates.ts';
import type { WatchView } from './release-watch.ts';
import type { ReleaseRecord } from '../core/records.ts';
import type { AnalysisResult } from '../core/analysis/index.ts';
import type { ShadowVerdict } from '../core/shadow/shadow-verdict.ts';
import type { CountOrPercent } from '../core/duration.ts';
import { describeStep, type Step } from '../core/plans.ts';
import { currentStep, type Rollout } from '../core/rollout.ts';
import { formatListen, type Strategy } from '../core/service-config.ts';
import type { StateStore } from '../store/state-store.ts';
import type { DownMark } from '../store/teardown-store.ts';
import { computeRouteTable, routingRelease, trafficWeights } from './route-sync.ts';
import type { FleetSet } from './fleet-set.ts';
import { InstanceFleet } from './instance-fleet.ts';
import type { FleetPlacement } from '../core/ports/fleet.ts';
import { routerCarriesTraffic } from '../core/traffic-path.ts';

export interface ReleaseView {
  id: number;
  env: string;
  number: number;
  service: string;
  artefactDigest: string;
  configHash: string;
  /** The environment's config version the release was made with (null: none existed). */
  configVersion: number | null;
  createdAt: number;
  createdBy: string;
  instances: number;
  strategy: string;
}

export interface RolloutView {
  id: number;
  env: string;
  kind: string;
  phase: string;
  from: number | null;
  to: number;
  step: number;
  steps: string[];
  abortSteps: string[] | null;
  current: string | null;
  /** release number → percent, as recorded by the rollout (null: traffic follows ready instances). */
  traffic: Record<string, number> | null;
  preview: number | null;
  reason: string | null;
  createdBy: string;
  createdAt: number;
  finishedAt: number | null;
}

export interface InstanceView {
  id: string;
  release: number;
  state: string;
  port: number;
  pid: number | null;
  /** What runs it: process, docker. */
  runtime: string;
  /** The runtime's id of it (a container id, shortened); null for a process. */
  container: string | null;
  readyAt: number | null;
  lastError: string | null;
}

export interface EnvironmentStatus {
  /** The key, `shop/production`: unique on the server. */
  env: string;
  /** Whose environment it is (null: a bare name kept from before services were first-class). */
  service: string | null;
  /** Its name in slipway.yaml: `production`. */
  name: string;
  listen: string | null;
  listenError: string | null;
  /** Blue-green: the address where the new colour answers before it is promoted, and that release; null: no preview now. */
  preview: { listen: string; release: number } | null;
  stable: ReleaseView | null;
  rollout: RolloutView | null;
  lastRollout: RolloutView | null;
  instances: InstanceView[];
  /** release number → percent of traffic, as the router was last told. */
  weights: Record<string, number>;
  /** The latest analysis of the rollout in progress, with its figures. */
  analysis?: AnalysisResult | null;
  /** The verdict of the shadow step of the rollout in progress (else of the last one), if this server gave one. */
  shadow?: ShadowVerdict | null;
  /** runtime: kubernetes: where it runs and the replicas slipway asked for per release; null otherwise. */
  cluster: ClusterView | null;
  /** The watch window under way after the last rollout, else the last one this server ran; null if none. */
  watch?: WatchView | null;
  /** Taken down by `slipway down` (who, when, the release it ran), until a deploy brings it up; null: not down. */
  down?: DownMark | null;
  /** Maintenance and a traffic pause in force (`slipway maintenance`, `slipway pause-traffic`); each null when off. */
  traffic?: TrafficGateView;
  /** With tls: its certificates (issuer, expiry; never a key) and the last attempt to load or renew them; absent without tls:. */
  tls?: TlsStatus | null;
  /**
   * What became of the requests the router picked for replay's sample (record:) since
   * it started, by outcome as /metrics names them (kept, too_large, …, dropped_overflow,
   * dropped_stopped, dropped_write_failed), as last sampled; null when the environment
   * has not recorded since the router started.
   */
  recorded?: Readonly<Record<string, number>> | null;
  /**
   * Why the runtime of its instances cannot be asked whether they run (the Docker
   * engine away: "cannot reach the Docker engine at …"); null while it answers.
   * The instances keep their last known state, and their traffic, meanwhile.
   */
  runtimeUnreachable?: string | null;
}

/** Where an environment runs beyond this machine (a cluster), per release what was asked for and what runs. */
export type ClusterView = FleetPlacement;

export function releaseView(r: ReleaseRecord): ReleaseView {
  return {
    id: r.id, env: r.env, number: r.number, service: r.service, artefactDigest: r.artefactDigest, configHash: r.configHash,
    configVersion: r.config.configVersion, createdAt: r.createdAt, createdBy: r.createdBy, instances: r.config.environment.instances,
    strategy: describeStrategy(r.config.environment.strategy),
  };
}

export function describeStrategy(s: Strategy): string {
  const pct = (v: CountOrPercent) => ('count' in v ? String(v.count) : `${v.percent}%`);
  switch (s.type) {
    case 'rolling':
      return `rolling (batch ${pct(s.batch)}, max unavailable ${pct(s.maxUnavailable)})`;
    case 'canary':
      return `canary (${s.steps.map((x) => ('weight' in x ? `${x.weight}%` : 'pause' in x ? 'pause' : 'shadow' in x ? 'shadow' : 'analysis')).join(' → ')})`;
    case 'blue-green':
      return `blue-green (${s.autoPromote ? 'auto promote' : 'promote by hand'}, old colour warm ${s.scaleDownDelayMs}ms)`;
  }
}

export function rolloutView(store: StateStore, r: Rollout): RolloutView {
  const num = (id: number | null) => (id === null ? null : store.getRelease(id)?.number ?? null);
  const name = (id: number) => `#${num(id) ?? '?'}`;
  const describe = (steps: Step[]) => steps.map((s) => describeStep(s, name));
  const step = currentStep(r);
  return {
    id: r.id, env: r.env, kind: r.kind, phase: r.phase, from: num(r.fromReleaseId), to: num(r.toReleaseId) ?? 0,
    step: r.stepIndex, steps: describe(r.plan.steps), abortSteps: r.plan.abortSteps ? describe(r.plan.abortSteps) : null,
    current: step ? describe([step])[0]! : null,
    traffic: r.traffic ? Object.fromEntries(Object.entries(r.traffic).map(([id, w]) => [String(num(Number(id)) ?? id), w])) : null,
    preview: num(r.preview), reason: r.reason, createdBy: r.createdBy, createdAt: r.createdAt, finishedAt: r.finishedAt,
  };
}

export function describeEnvironment(store: StateStore, fleets: FleetSet, env: string, listenError: string | null): EnvironmentStatus {
  const stableId = store.getStableReleaseId(env);
  const stable = stableId === null ? null : store.getRelease(stableId);
  const active = store.activeRollout(env);
  const last = store.listRollouts(env, 1)[0] ?? null;
  const routing = routingRelease(store, env);
  const table = computeRouteTable(store, fleets, 0).environments[env];
  const live = store.liveInstances(env);
  const label = (id: string) => String(store.getRelease(Number(id))?.number ?? id);
  const cluster = routing ? fleets.of(routing).placement(env) : null;
  // With traffic: gateway the router has no table for the environment; the HTTPRoute has the same split.
  const weights = table?.weights ?? (routing ? Object.fromEntries(Object.entries(trafficWeights(store, fleets, env)).map(([id, w]) => [label(id), w])) : {});
  const { service, environment: name } = splitEnvKey(env);
  return {
    env,
    service,
    name,
    // Through a Gateway the router does not listen for the environment.
    listen: routing && routerCarriesTraffic(routing.config.environment) ? formatListen(routing.config.environment.listen) : null,
    listenError,
    preview: table?.preview ? { listen: table.preview.listen, release: Number(table.preview.release) } : null,
    stable: stable ? releaseView(stable) : null,
    rollout: active ? rolloutView(store, active) : null,
    lastRollout: last ? rolloutView(store, last) : null,
    instances: live.map((i) => ({
      id: i.id, release: store.getRelease(i.releaseId)?.number ?? 0, state: i.state, port: i.port, pid: i.pid,
      runtime: i.runtime, container: i.runtimeRef?.slice(0, 12) ?? null, readyAt: i.readyAt, lastError: i.lastError,
    })),
    weights,
    cluster,
    runtimeUnreachable: live.map((i) => stateUnknownOf(fleets, i.id)).find((why) => why !== null) ?? null,
  };
}

function stateUnknownOf(fleets: FleetSet, instanceId: string): string | null {
  for (const f of fleets.all()) {
    const why = f instanceof InstanceFleet ? f.stateUnknownOf(instanceId) : null;
    if (why !== null) return why;
  }
  return null;
}
