// The kubernetes runtime's own costs, without a cluster: generating and
// schema-checking an environment's objects at each step, and what a slipway server
// asks of the API during canary rollouts (counted by the FAKE API server of the
// tests, whose pods become ready after 40 ms, so wall time is slipway's overhead,
// the CLI's build and upload included, plus those delays).
//
//   node --import tsx bench/kubernetes-bench.ts [--iterations 200]

import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_ANALYSIS } from '../src/core/analysis/index.ts';
import { planFor } from '../src/core/plans.ts';
import type { Strategy } from '../src/core/service-config.ts';
import { assertValidObjects } from '../src/runtime/kubernetes/manifest-schema.ts';
import { desiredObjects, stateAfterStep, type ClusterRelease, type ClusterState } from '../src/runtime/kubernetes/manifests.ts';
import { FakeKubeApi } from '../test/support/fake-kube-api.ts';
import { freePort, runCli, scratchDir, shutdownEverything, startServerProcess, writeService } from '../test/support/harness.ts';

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

// 2. A slipway server driving canary rollouts on the fake API server, through the CLI.
const fake = new FakeKubeApi();
const url = await fake.start();
const work = scratchDir('slipway-k8s-bench-');
const app = join(work, 'hello');
const dataDir = join(work, '.slipway');
mkdirSync(dataDir, { recursive: true });
const kubeconfig = fake.writeKubeconfig(work, 'f');
const kube = 'runtime: kubernetes\nkubernetes:\n  namespace: shop\n  image: reg/hello:{release}\n  traffic: gateway\n  gateway: infra/public';
const port = await freePort();
const write = (version: string) => writeService(app, {
  version,
  envs: { production: { instances: 10, port, strategyYaml: 'type: canary\nsteps:\n  - weight: 5\n  - weight: 25\n  - weight: 50', extraYaml: kube } },
});
const server = await startServerProcess(dataDir, 'server.log', { ...process.env, KUBECONFIG: kubeconfig });
try {
  write('1.0.0');
  const first = await runCli(['deploy', 'production'], { cwd: app, dataDir, timeoutMs: 120_000 });
  if (first.code !== 0) throw new Error(first.stderr);
  const runs = 3;
  for (let n = 2; n < 2 + runs; n++) {
    write(`${n}.0.0`);
    const before = fake.calls.length;
    const t1 = performance.now();
    const r = await runCli(['deploy', 'production'], { cwd: app, dataDir, timeoutMs: 120_000 });
    const ms = performance.now() - t1;
    const calls = fake.calls.slice(before);
    const byVerb = Object.entries(calls.reduce<Record<string, number>>((m, c) => ((m[`${c.verb} ${c.resource}`] = (m[`${c.verb} ${c.resource}`] ?? 0) + 1), m), {})).map(([v, k]) => `${v} ${k}`).join(', ');
    console.log(`canary r${n} (10 replicas, weights 5/25/50/100) by the server against the fake API: exit ${r.code} in ${ms.toFixed(0)} ms (CLI upload included); ${calls.length} API requests (${byVerb})`);
  }
} finally {
  await shutdownEverything(server.url, dataDir);
  await fake.close();
  rmSync(work, { recursive: true, force: true });
}
