import { describe, expect, it } from 'vitest';
import { planAbort, planFor, type Step } from '../../core/plans.ts';
import type { KubernetesSettings, Strategy } from '../../core/service-config.ts';
import { DEFAULT_ANALYSIS } from '../../core/analysis/index.ts';
import { schemaProblems } from './manifest-schema.ts';
import {
  clusterReleaseOf,
  desiredObjects,
  httpRouteFor,
  imageFor,
  secretFor,
  stateAfterStep,
  type ClusterObject,
  type ClusterRelease,
  type ClusterState,
} from './manifests.ts';
import { dnsName } from './names.ts';

const HEALTH = { path: '/healthz', intervalMs: 1000, timeoutMs: 2000, healthyThreshold: 2, unhealthyThreshold: 3, startDeadlineMs: 30_000 };

function settings(traffic: 'router' | 'gateway'): KubernetesSettings {
  return {
    context: null,
    namespace: 'shop',
    image: 'registry.example.com/hello:{release}-{artefact}',
    containerPort: 8080,
    traffic,
    gateway: traffic === 'gateway' ? { name: 'public', namespace: 'infra', sectionName: 'https' } : null,
    hostnames: traffic === 'gateway' ? ['hello.example.com'] : [],
    historyLimit: 2,
  };
}

const STABLE: ClusterRelease = { id: 11, number: 4, artefactDigest: `sha256:${'a'.repeat(64)}`, plain: { GREETING: 'hi' }, secretNames: ['DB_PASSWORD'] };
const NEXT: ClusterRelease = { id: 12, number: 5, artefactDigest: `sha256:${'b'.repeat(64)}`, plain: { GREETING: 'hello' }, secretNames: ['DB_PASSWORD', 'API_KEY'] };

function startState(traffic: 'router' | 'gateway', strategy: Strategy): ClusterState {
  return {
    ref: { service: 'hello', environment: 'production' },
    settings: settings(traffic),
    pod: { portEnv: 'PORT', health: HEALTH, shutdown: { drainTimeoutMs: 10_000, killTimeoutMs: 5000 } },
    releases: [STABLE, NEXT],
    replicas: { [STABLE.id]: 4 },
    weights: strategy.type === 'rolling' ? null : { [STABLE.id]: 100 },
  };
}

const STRATEGIES: Record<string, Strategy> = {
  rolling: { type: 'rolling', batch: { count: 1 }, maxUnavailable: { count: 1 } },
  canary: {
    type: 'canary',
    steps: [{ weight: 5 }, { pause: { durationMs: 1000 } }, { weight: 25 }, { analysis: { spec: DEFAULT_ANALYSIS, deadlineMs: null, prometheus: [] } }, { weight: 50 }],
    canaryInstances: null,
    sticky: null,
  },
  'blue-green': { type: 'blue-green', previewListen: { host: '127.0.0.1', port: 9000 }, autoPromote: false, scaleDownDelayMs: 30_000 },
};

/** The objects at every step of a plan (and of its abort from every step), with each release's Secret. */
function objectsThroughPlan(traffic: 'router' | 'gateway', strategy: Strategy): { step: string; objects: ClusterObject[] }[] {
  // The first release of an environment: nothing stable, no split.
  let first: ClusterState = { ...startState(traffic, strategy), replicas: {}, weights: null };
  const firstSnapshots = planFor(strategy, { stableReleaseId: null, stableCount: 0, newReleaseId: NEXT.id, instances: 4 }).map((step, i) => {
    first = stateAfterStep(first, step);
    return { step: `first ${i} ${step.type}`, objects: desiredObjects(first) };
  });
  let state = startState(traffic, strategy);
  const steps = planFor(strategy, { stableReleaseId: STABLE.id, stableCount: 4, newReleaseId: NEXT.id, instances: 4 });
  const out = [...firstSnapshots, { step: 'start', objects: desiredObjects(state) }];
  steps.forEach((step, i) => {
    state = stateAfterStep(state, step);
    out.push({ step: `${i} ${step.type}`, objects: desiredObjects(state) });
    let aborted = stateAfterStep(state, { type: 'weights', weights: { [STABLE.id]: 100 } });
    for (const s of planAbort({ stableReleaseId: STABLE.id, instances: 4, newReleaseId: NEXT.id, previewOpen: false })) aborted = stateAfterStep(aborted, s);
    out.push({ step: `${i} ${step.type} then abort`, objects: desiredObjects(aborted) });
  });
  out.push({ step: 'secrets', objects: [secretFor(state, STABLE, { DB_PASSWORD: 'x' }), secretFor(state, NEXT, { DB_PASSWORD: 'x', API_KEY: 'y' })] });
  return out;
}

describe('generated manifests pass the official Kubernetes schemas', () => {
  for (const [name, strategy] of Object.entries(STRATEGIES)) {
    for (const traffic of ['router', 'gateway'] as const) {
      it(`${name} with traffic ${traffic}: every object at every step and every abort`, () => {
        const snapshots = objectsThroughPlan(traffic, strategy);
        const kinds = new Set(snapshots.flatMap((s) => s.objects.map((o) => o.kind)));
        expect([...kinds].sort()).toEqual(traffic === 'gateway' ? ['Deployment', 'HTTPRoute', 'Secret', 'Service'] : ['Deployment', 'Secret', 'Service']);
        const problems = snapshots.flatMap((s) => s.objects.flatMap((o) => schemaProblems(o).map((p) => `${s.step}: ${o.kind} ${o.metadata?.name}: ${p}`)));
        expect(problems).toEqual([]);
      });
    }
  }

  it('the check does catch what a cluster would refuse', () => {
    const state = startState('gateway', STRATEGIES['canary']!);
    const route = httpRouteFor(state);
    route.spec!.rules![0]!.backendRefs![0]!.weight = -5;
    expect(schemaProblems(route).join('\n')).toMatch(/weight/);
    const [deployment] = desiredObjects(state);
    (deployment as { spec: { replicas: unknown } }).spec.replicas = 'four';
    expect(schemaProblems(deployment!).join('\n')).toMatch(/replicas/);
  });
});

describe('manifests', () => {
  it('refer to secrets by Secret name and key, with no value in the Deployment', () => {
    const state = startState('router', STRATEGIES['rolling']!);
    const deployment = desiredObjects(state).find((o) => o.kind === 'Deployment')!;
    const env = (deployment as { spec: { template: { spec: { containers: { env: unknown[] }[] } } } }).spec.template.spec.containers[0]!.env;
    expect(env).toEqual([
      { name: 'PORT', value: '8080' },
      { name: 'GREETING', value: 'hi' },
      { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'hello-production-r4-secrets', key: 'DB_PASSWORD' } } },
    ]);
    const secret = secretFor(state, STABLE, { DB_PASSWORD: 'hunter2' });
    expect(Buffer.from((secret as { data: Record<string, string> }).data['DB_PASSWORD']!, 'base64').toString()).toBe('hunter2');
  });

  it('take the readiness probe and grace period from the health and shutdown config', () => {
    const d = desiredObjects(startState('router', STRATEGIES['rolling']!))[0] as any;
    expect(d.spec.template.spec.containers[0].readinessProbe).toEqual({
      httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1, timeoutSeconds: 2, successThreshold: 2, failureThreshold: 3,
    });
    expect(d.spec.template.spec.terminationGracePeriodSeconds).toBe(15);
    expect(d.spec.progressDeadlineSeconds).toBe(30);
    expect(d.metadata.labels).toMatchObject({ 'slipway.dev/service': 'hello', 'slipway.dev/environment': 'production', 'slipway.dev/release': '4' });
  });

  it('split traffic in the HTTPRoute by the weights of each canary step', () => {
    let state = startState('gateway', STRATEGIES['canary']!);
    const seen: string[] = [];
    for (const step of planFor(STRATEGIES['canary']!, { stableReleaseId: STABLE.id, stableCount: 4, newReleaseId: NEXT.id, instances: 4 })) {
      state = stateAfterStep(state, step);
      if (step.type !== 'weights') continue;
      seen.push(httpRouteFor(state).spec!.rules![0]!.backendRefs!.map((b) => `${b.name}=${b.weight}`).join(' '));
    }
    expect(seen).toEqual([
      'hello-production-r4=95 hello-production-r5=5',
      'hello-production-r4=75 hello-production-r5=25',
      'hello-production-r4=50 hello-production-r5=50',
      'hello-production-r5=100',
    ]);
  });

  it('let rolling traffic follow the replicas, adding up to 100', () => {
    let state = startState('gateway', STRATEGIES['rolling']!);
    const step: Step = { type: 'scale', releaseId: NEXT.id, count: 3 };
    state = stateAfterStep(state, step);
    expect(httpRouteFor(state).spec!.rules![0]!.backendRefs!.map((b) => b.weight)).toEqual([57, 43]);
  });

  it('keep every name a valid Service name of at most 63 characters', () => {
    const long = dnsName('a'.repeat(63), 'production-eu-west-twelve', 'r123');
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?$/);
    expect(dnsName('a'.repeat(63), 'production-eu-west-eleven', 'r123')).not.toBe(long);
  });

  it('take a stored release\'s plain values and only the names of its secrets', () => {
    const config = { environment: { config: { A: '1', B: '2' } }, overrides: { B: '3' }, secrets: { TOKEN: { provider: 'store', version: 2 } } };
    expect(clusterReleaseOf({ id: 9, number: 3, artefactDigest: 'sha256:x', config } as never)).toEqual({
      id: 9, number: 3, artefactDigest: 'sha256:x', plain: { A: '1', B: '3' }, secretNames: ['TOKEN'],
    });
  });

  it('fill the image template, and ask for the artefact when the template needs it', () => {
    expect(imageFor('reg/hello:{release}-{artefact}', STABLE)).toBe('reg/hello:4-aaaaaaaaaaaa');
    expect(() => imageFor('reg/hello:{artefact}', { number: 1, artefactDigest: null })).toThrow(/--artefact/);
  });
});
