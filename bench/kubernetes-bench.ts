// The kubernetes driver's own costs, without a cluster: generating and
// schema-checking an environment's objects at each step, and the API requests a
// canary rollout makes (counted by the FAKE API server of the tests, whose pods
// become ready after 40 ms, so its wall time is slipway's overhead plus those delays).
//
//   node --import tsx bench/kubernetes-bench.ts [--iterations 200]

import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { DEFAULT_ANALYSIS } from '../src/core/analysis/index.ts';
import { planFor } from '../src/core/plans.ts';
import type { Strategy } from '../src/core/service-config.ts';
import { KubeCluster } from '../src/runtime/kubernetes/cluster-client.ts';
import { ClusterRollout } from '../src/runtime/kubernetes/cluster-rollout.ts';
import { assertValidObjects } from '../src/runtime/kubernetes/manifest-schema.ts';
import { desiredObjects, stateAfterStep, type ClusterRelease, type ClusterState } from '../src/runtime/kubernetes/manifests.ts';
import { FakeKubeApi } from '../test/support/fake-kube-api.ts';

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '200' } } });
const iterations = Number(values.iterations);

const canary: Strategy = {
  type: 'canary',
  steps: [{ weight: 5 }, { weight: 25 }, { analysis: { spec: DEFAULT_ANALYSIS, deadlineMs: null, prometheus: [] } }, { weight: 50 }],
  canaryInstances: null,
  sticky: null,
};
const rel = (n: number): ClusterRelease => ({ id: n, number: n, artefactDigest: null, plain: { GREETING: `v${n}` }, secretNames: ['DB_PASSWORD'] });
const state = (): ClusterState => ({
  ref: { service: 'hello', environment: 'production' },
  settings: { context: null, namespace: 'shop', image: 'reg/hello:{release}', containerPort: 8080, traffic: 'gateway', gateway: { name: 'public', namespace: 'infra', sectionName: null }, hostnames: [], historyLimit: 3 },
  pod: { portEnv: 'PORT', health: { path: '/healthz', intervalMs: 1000, timeoutMs: 1000, healthyThreshold: 1, unhealthyThreshold: 3, startDeadlineMs: 10_000 }, shutdown: { drainTimeoutMs: 100, killTimeoutMs: 100 } },
  releases: [],
  replicas: {},
  weights: null,
});

// 1. Generate and check every step's objects.
const steps = planFor(canary, { stableReleaseId: 1, stableCount: 10, newReleaseId: 2, instances: 10 });
let objects = 0;
const t0 = performance.now();
for (let i = 0; i < iterations; i++) {
  let s: ClusterState = { ...state(), releases: [rel(1), rel(2)], replicas: { 1: 10 }, weights: { 1: 100 } };
  for (const step of steps) {
    s = stateAfterStep(s, step);
    const objs = desiredObjects(s);
    assertValidObjects(objs);
    objects += objs.length;
  }
}
const genMs = performance.now() - t0;
console.log(`manifests: ${iterations} canary plans of ${steps.length} steps, ${objects} objects generated and schema-checked in ${genMs.toFixed(0)} ms = ${((genMs * 1000) / objects).toFixed(1)} µs per object`);

// 2. A canary rollout against the fake API server.
const fake = new FakeKubeApi();
const url = await fake.start();
const kc = new KubeConfig();
kc.loadFromOptions({ clusters: [{ name: 'f', server: url, skipTLSVerify: true }], users: [{ name: 'u', token: fake.token }], contexts: [{ name: 'f', cluster: 'f', user: 'u', namespace: 'shop' }], currentContext: 'f' });
const rollout = new ClusterRollout({ api: new KubeCluster(kc), state: state(), secretValues: async () => ({ DB_PASSWORD: 'x' }) });
const hooks = { pause: async () => 'go' as const, analysis: async () => 'pass' as const };
await rollout.rollOut({ next: rel(1), stable: null, strategy: canary, instances: 10, hooks });
const before = fake.calls.length;
const t1 = performance.now();
const outcome = await rollout.rollOut({ next: rel(2), stable: rel(1), strategy: canary, instances: 10, hooks });
const rolloutMs = performance.now() - t1;
const calls = fake.calls.slice(before);
const byVerb = Object.entries(calls.reduce<Record<string, number>>((m, c) => ((m[c.verb] = (m[c.verb] ?? 0) + 1), m), {})).map(([v, n]) => `${v} ${n}`).join(', ');
console.log(`canary rollout (10 instances, ${steps.length} steps) against the fake API: ${outcome.phase} in ${rolloutMs.toFixed(0)} ms; ${calls.length} API requests (${byVerb})`);
await fake.close();
