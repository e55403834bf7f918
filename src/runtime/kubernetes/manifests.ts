// The objects an environment needs on a cluster, as pure functions of what slipway
// knows: its releases, how many replicas each should have and how traffic is split.
// Nothing here talks to a cluster; the applier sends what these return, and
// `slipway render` prints it.

import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IService } from 'kubernetes-models/v1/Service';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IHTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import { SlipwayError } from '../../core/errors.ts';
import type { Step } from '../../core/plans.ts';
import { effectiveConfig, type ReleaseRecord } from '../../core/records.ts';
import type { HealthSpec, KubernetesSettings, ShutdownSpec } from '../../core/service-config.ts';
import {
  LABELS,
  environmentLabels,
  environmentName,
  releaseLabels,
  releaseName,
  secretName,
  type EnvironmentRef,
} from './names.ts';

/** The port every slipway Service exposes; it forwards to the container's named port. */
export const SERVICE_PORT = 80;
const PORT_NAME = 'http';

/** One release as the cluster sees it: no secret values, only the names the pod refers to. */
export interface ClusterRelease {
  /** The engine's release id, which plan steps use. */
  id: number;
  /** The release number per environment, which names its objects. */
  number: number;
  artefactDigest: string | null;
  /** Plain environment variables (slipway.yaml config, then CLI-set values over them). */
  plain: Record<string, string>;
  /** Variables whose values are secret: read from the release's Secret, never written here. */
  secretNames: string[];
  /**
   * How this release's pods are made, from its own config: a later release's new
   * image template or health settings must never re-render an older release's
   * Deployment. Absent: the environment's (state.settings and state.pod).
   */
  shape?: ReleaseShape;
}

/** What a release's own config says about its pods. */
export interface ReleaseShape {
  image: string;
  containerPort: number;
  pod: PodShape;
}

/** Service-wide settings that shape every pod. */
export interface PodShape {
  portEnv: string;
  health: HealthSpec;
  shutdown: ShutdownSpec;
}

/** Everything the objects of one environment are made from. */
export interface ClusterState {
  ref: EnvironmentRef;
  settings: KubernetesSettings;
  pod: PodShape;
  releases: ClusterRelease[];
  /** Desired replicas by release id; a release with 0 is kept (for a fast rollback) until collected. */
  replicas: Record<number, number>;
  /** Traffic shares by release id; null: in proportion to replicas (what rolling does). */
  weights: Record<number, number> | null;
}

export type ClusterObject = IDeployment | IService | IHTTPRoute | ISecret;

/** The image of a release: `{release}` and `{artefact}` in the template replaced. */
export function imageFor(template: string, release: Pick<ClusterRelease, 'number' | 'artefactDigest'>): string {
  return template.replace(/\{(release|artefact)\}/g, (_m, what: string) => {
    if (what === 'release') return String(release.number);
    if (release.artefactDigest === null) {
      throw new SlipwayError('E_BAD_REQUEST', `the image ${template} names {artefact}, but no artefact digest is known; pass --artefact sha256:...`);
    }
    return release.artefactDigest.replace(/^sha256:/, '').slice(0, 12);
  });
}

const seconds = (ms: number, min = 1) => Math.max(min, Math.ceil(ms / 1000));

export function deploymentFor(state: ClusterState, release: ClusterRelease): IDeployment {
  const { ref, settings } = state;
  const { image, containerPort, pod } = release.shape ?? { image: settings.image, containerPort: settings.containerPort, pod: state.pod };
  const labels = releaseLabels(ref, release.number);
  const env = [
    { name: pod.portEnv, value: String(containerPort) },
    ...Object.keys(release.plain).sort().map((name) => ({ name, value: release.plain[name]! })),
    // The pod reads each secret from the release's Secret: no value is in this object.
    ...[...release.secretNames].sort().map((name) => ({
      name,
      valueFrom: { secretKeyRef: { name: secretName(ref, release.number), key: name } },
    })),
  ];
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: releaseName(ref, release.number),
      namespace: settings.namespace,
      labels,
      annotations: release.artefactDigest ? { 'slipway.dev/artefact': release.artefactDigest } : {},
    },
    spec: {
      replicas: state.replicas[release.id] ?? 0,
      selector: { matchLabels: selectorOf(labels) },
      // A release's pods never change; a new release is a new Deployment.
      revisionHistoryLimit: 1,
      progressDeadlineSeconds: seconds(pod.health.startDeadlineMs),
      template: {
        metadata: { labels },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: seconds(pod.shutdown.drainTimeoutMs + pod.shutdown.killTimeoutMs),
          containers: [
            {
              name: 'app',
              image: imageFor(image, release),
              ports: [{ name: PORT_NAME, containerPort, protocol: 'TCP' }],
              env,
              readinessProbe: {
                httpGet: { path: pod.health.path, port: PORT_NAME },
                periodSeconds: seconds(pod.health.intervalMs),
                timeoutSeconds: seconds(pod.health.timeoutMs),
                successThreshold: pod.health.healthyThreshold,
                failureThreshold: pod.health.unhealthyThreshold,
              },
              securityContext: { allowPrivilegeEscalation: false },
            },
          ],
        },
      },
    },
  };
}

function selectorOf(labels: Record<string, string>): Record<string, string> {
  const keep = [LABELS.service, LABELS.environment, LABELS.release] as string[];
  return Object.fromEntries(Object.entries(labels).filter(([k]) => keep.includes(k)));
}

function serviceObject(o: { name: string; state: ClusterState; labels: Record<string, string>; selector: Record<string, string> }): IService {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: o.name, namespace: o.state.settings.namespace, labels: o.labels },
    spec: {
      type: 'ClusterIP',
      selector: o.selector,
      ports: [{ name: PORT_NAME, port: SERVICE_PORT, targetPort: PORT_NAME, protocol: 'TCP' }],
    },
  };
}

/** The release's own Service: what the HTTPRoute (or the router) sends its share to. */
export function releaseServiceFor(state: ClusterState, release: ClusterRelease): IService {
  const labels = releaseLabels(state.ref, release.number);
  return serviceObject({ name: releaseName(state.ref, release.number), state, labels, selector: selectorOf(labels) });
}

/**
 * The environment's stable Service: in-cluster callers reach the release with the
 * largest share through it; with no explicit split (rolling), every ready pod.
 */
export function stableServiceFor(state: ClusterState): IService {
  const labels = environmentLabels(state.ref);
  const primary = primaryRelease(state);
  const selector = selectorOf(primary === null ? labels : releaseLabels(state.ref, primary.number));
  return serviceObject({ name: environmentName(state.ref), state, labels, selector });
}

/** Shares by release id, always summing to 100 when any release has replicas. */
export function trafficShares(state: ClusterState): Map<ClusterRelease, number> {
  const shares = new Map<ClusterRelease, number>();
  if (state.weights !== null) {
    for (const r of state.releases) if ((state.weights[r.id] ?? 0) > 0) shares.set(r, state.weights[r.id]!);
    return shares;
  }
  const live = state.releases.filter((r) => (state.replicas[r.id] ?? 0) > 0);
  const total = live.reduce((n, r) => n + state.replicas[r.id]!, 0);
  let given = 0;
  live.forEach((r, i) => {
    // The last one takes the rounding remainder, so the shares add up to exactly 100.
    const share = i === live.length - 1 ? 100 - given : Math.round((100 * state.replicas[r.id]!) / total);
    given += share;
    shares.set(r, share);
  });
  return shares;
}

function primaryRelease(state: ClusterState): ClusterRelease | null {
  if (state.weights === null) return null;
  let best: ClusterRelease | null = null;
  for (const [r, w] of trafficShares(state)) {
    if (best === null || w > state.weights[best.id]! || (w === state.weights[best.id]! && r.number > best.number)) best = r;
  }
  return best;
}

/** The HTTPRoute that splits the environment's traffic by weighted backendRefs. */
export function httpRouteFor(state: ClusterState): IHTTPRoute {
  const { settings, ref } = state;
  const gw = settings.gateway!;
  const backendRefs = [...trafficShares(state)]
    .sort(([a], [b]) => a.number - b.number)
    .map(([r, weight]) => ({ name: releaseName(ref, r.number), port: SERVICE_PORT, weight }));
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: environmentName(ref), namespace: settings.namespace, labels: environmentLabels(ref) },
    spec: {
      parentRefs: [{
        group: 'gateway.networking.k8s.io',
        kind: 'Gateway',
        name: gw.name,
        ...(gw.namespace ? { namespace: gw.namespace } : {}),
        ...(gw.sectionName ? { sectionName: gw.sectionName } : {}),
      }],
      ...(settings.hostnames.length > 0 ? { hostnames: settings.hostnames } : {}),
      rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs }],
    },
  };
}

/**
 * The Secret a release's pods read their secrets from. Only the applier calls this,
 * with values it was handed; `slipway render` never does, so no value is printed.
 */
export function secretFor(state: ClusterState, release: ClusterRelease, values: Record<string, string>): ISecret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: { name: secretName(state.ref, release.number), namespace: state.settings.namespace, labels: releaseLabels(state.ref, release.number) },
    data: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')])),
  };
}

/** The objects of one release (its Secret aside): its Deployment and its Service. */
export function releaseObjects(state: ClusterState, release: ClusterRelease): ClusterObject[] {
  return [deploymentFor(state, release), releaseServiceFor(state, release)];
}

/** The objects of the environment as a whole: the stable Service and, for gateway traffic, the HTTPRoute. */
export function environmentObjects(state: ClusterState): ClusterObject[] {
  return state.settings.traffic === 'gateway' ? [stableServiceFor(state), httpRouteFor(state)] : [stableServiceFor(state)];
}

/** Everything the environment should have on the cluster in this state (Secrets aside). */
export function desiredObjects(state: ClusterState): ClusterObject[] {
  const known = state.releases.filter((r) => state.replicas[r.id] !== undefined).sort((a, b) => a.number - b.number);
  return [...known.flatMap((r) => releaseObjects(state, r)), ...environmentObjects(state)];
}

/** The state after one plan step: scale and weights change it; the other steps change nothing on the cluster. */
export function stateAfterStep(state: ClusterState, step: Step): ClusterState {
  switch (step.type) {
    case 'scale':
      return { ...state, replicas: { ...state.replicas, [step.releaseId]: step.count } };
    case 'weights':
      return { ...state, weights: Object.fromEntries(Object.entries(step.weights).map(([id, w]) => [Number(id), w])) };
    case 'pause':
    case 'analysis':
    case 'shadow':
    // On a cluster every release already has its own Service to preview it by.
    case 'preview':
      return state;
  }
}

/** Where slipway's router (in the cluster) sends a release's share, for traffic: router: its own Service. */
export function releaseServiceUrl(ref: EnvironmentRef, namespace: string, release: number): string {
  return `http://${releaseName(ref, release)}.${namespace}.svc:${SERVICE_PORT}`;
}

/** A stored release as the cluster sees it: its plain values, and only the names of its secrets. */
export function clusterReleaseOf(r: Pick<ReleaseRecord, 'id' | 'number' | 'artefactDigest' | 'config'>): ClusterRelease {
  const k = r.config.environment.kubernetes;
  const shape: ReleaseShape | undefined = k && {
    image: k.image,
    containerPort: k.containerPort,
    pod: { portEnv: r.config.run.portEnv, health: r.config.health, shutdown: r.config.shutdown },
  };
  return { id: r.id, number: r.number, artefactDigest: r.artefactDigest, plain: effectiveConfig(r.config), secretNames: Object.keys(r.config.secrets).sort(), ...(shape ? { shape } : {}) };
}
