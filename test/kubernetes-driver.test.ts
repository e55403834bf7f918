// The kubernetes driver against a FAKE API server (test/support/fake-kube-api.ts):
// no real cluster can run here. The driver uses the real @kubernetes/client-node over
// HTTP on 127.0.0.1; the fake answers its REST paths and plays a crude Deployment
// controller and kubelet. Its limits are listed at the top of that file: above all,
// it does not validate objects (manifests.test.ts checks them against the official
// schemas) and pods "run" nothing.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ANALYSIS } from '../src/core/analysis/index.ts';
import type { KubernetesSettings, Strategy } from '../src/core/service-config.ts';
import { KubeCluster, loadKubeConfig, type ClusterApi } from '../src/runtime/kubernetes/cluster-client.ts';
import { ClusterRollout, type RolloutHooks } from '../src/runtime/kubernetes/cluster-rollout.ts';
import type { ClusterObject, ClusterRelease, ClusterState } from '../src/runtime/kubernetes/manifests.ts';
import { FakeKubeApi } from './support/fake-kube-api.ts';
import { REPO } from './support/harness.ts';

const NS = 'shop';
const SECRET_VALUE = 'p4ss-w0rd-never-inline';
const HEALTH = { path: '/healthz', intervalMs: 1000, timeoutMs: 1000, healthyThreshold: 1, unhealthyThreshold: 3, startDeadlineMs: 5000 };

function kubeConfigFor(url: string, token: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server: url, skipTLSVerify: true }],
    users: [{ name: 'slipway', token }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'slipway', namespace: NS }],
    currentContext: 'fake',
  });
  return kc;
}

function release(n: number, secrets = ['DB_PASSWORD']): ClusterRelease {
  return { id: 100 + n, number: n, artefactDigest: `sha256:${String(n).repeat(64).slice(0, 64)}`, plain: { GREETING: `v${n}` }, secretNames: secrets };
}

function initialState(traffic: 'router' | 'gateway', historyLimit: number): ClusterState {
  const settings: KubernetesSettings = {
    context: 'fake', namespace: NS, image: 'registry.example.com/hello:v{release}', containerPort: 8080, traffic,
    gateway: traffic === 'gateway' ? { name: 'public', namespace: 'infra', sectionName: null } : null, hostnames: [], historyLimit,
  };
  return {
    ref: { service: 'hello', environment: 'production' },
    settings,
    pod: { portEnv: 'PORT', health: HEALTH, shutdown: { drainTimeoutMs: 200, killTimeoutMs: 200 } },
    releases: [],
    replicas: {},
    weights: null,
  };
}

const CANARY: Strategy = {
  type: 'canary',
  steps: [{ weight: 25 }, { pause: { durationMs: 1000 } }, { analysis: { spec: DEFAULT_ANALYSIS, deadlineMs: null, prometheus: [] } }, { weight: 50 }],
  canaryInstances: null,
  sticky: null,
};

interface Trace {
  events: string[];
  pauses: number;
  analyses: number;
}

function hooks(o: { pause?: 'go' | 'abort'; analysis?: 'pass' | 'fail'; trace: Trace; routeWeights?: RolloutHooks['routeWeights'] }): RolloutHooks {
  return {
    pause: async () => {
      o.trace.pauses++;
      return o.pause ?? 'go';
    },
    analysis: async () => {
      o.trace.analyses++;
      return o.analysis ?? 'pass';
    },
    onEvent: (m) => o.trace.events.push(m),
    ...(o.routeWeights ? { routeWeights: o.routeWeights } : {}),
  };
}

const newTrace = (): Trace => ({ events: [], pauses: 0, analyses: 0 });

/**
 * The real client, with a check at every HTTPRoute apply: each backend given a
 * share must already have that many... at least one ready pod in the fake.
 */
class CheckedCluster implements ClusterApi {
  readonly routeSplits: string[] = [];
  readonly unreadyShares: string[] = [];
  constructor(private readonly real: KubeCluster, private readonly fake: FakeKubeApi) {}
  async apply(o: ClusterObject): Promise<void> {
    if (o.kind === 'HTTPRoute') {
      const refs = (o as { spec: { rules: { backendRefs: { name: string; weight: number }[] }[] } }).spec.rules[0]!.backendRefs;
      this.routeSplits.push(refs.map((b) => `${b.name.replace('hello-production-', '')}=${b.weight}`).join(' '));
      for (const b of refs) {
        const ready = this.fake.objects('Pod', NS).filter((p) => p.metadata.name.startsWith(`${b.name}-`) && p.status.conditions.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True'));
        if (b.weight > 0 && ready.length === 0) this.unreadyShares.push(`${b.name}=${b.weight}`);
      }
    }
    return this.real.apply(o);
  }
  delete = (...a: Parameters<ClusterApi['delete']>) => this.real.delete(...a);
  listDeployments = (...a: Parameters<ClusterApi['listDeployments']>) => this.real.listDeployments(...a);
  watchPods = (...a: Parameters<ClusterApi['watchPods']>) => this.real.watchPods(...a);
}

function deployment(fake: FakeKubeApi, n: number) {
  return fake.object('Deployment', NS, `hello-production-r${n}`);
}

function readyPods(fake: FakeKubeApi, n: number): number {
  return fake.objects('Pod', NS).filter((p) => p.metadata.labels['slipway.dev/release'] === String(n) && !p.metadata.deletionTimestamp && p.status.conditions[0].status === 'True').length;
}

describe('kubernetes driver against a fake API server', () => {
  const fake = new FakeKubeApi({ crashImage: /:v4$/ });
  let cluster: CheckedCluster;
  let rollout: ClusterRollout;
  const r1 = release(1);
  const r2 = release(2);
  const r3 = release(3);
  const r4 = release(4);

  beforeAll(async () => {
    const url = await fake.start();
    cluster = new CheckedCluster(new KubeCluster(kubeConfigFor(url, fake.token)), fake);
    rollout = new ClusterRollout({ api: cluster, state: initialState('gateway', 1), secretValues: async () => ({ DB_PASSWORD: SECRET_VALUE }) });
  });
  afterAll(() => fake.close());

  it('a first release goes to full size with all the traffic', async () => {
    const outcome = await rollout.rollOut({ next: r1, stable: null, strategy: CANARY, instances: 4, hooks: hooks({ trace: newTrace() }) });
    expect(outcome).toEqual({ phase: 'succeeded' });
    expect(readyPods(fake, 1)).toBe(4);
    expect(fake.object('HTTPRoute', NS, 'hello-production')?.spec.rules[0].backendRefs).toEqual([{ name: 'hello-production-r1', port: 80, weight: 100 }]);
  });

  it('a canary rollout moves traffic by weights only once the canary pods are ready', async () => {
    const trace = newTrace();
    cluster.routeSplits.length = 0;
    const outcome = await rollout.rollOut({ next: r2, stable: r1, strategy: CANARY, instances: 4, hooks: hooks({ trace }) });
    expect(outcome).toEqual({ phase: 'succeeded' });
    expect(cluster.routeSplits).toEqual(['r1=75 r2=25', 'r1=50 r2=50', 'r2=100']);
    expect(cluster.unreadyShares).toEqual([]);
    expect(trace.pauses).toBe(1);
    expect(trace.analyses).toBe(1);
    expect(trace.events.slice(0, 2)).toEqual(['r2 to 1 replica(s)', 'traffic r1 75%, r2 25%']);
    expect(deployment(fake, 2)?.spec.replicas).toBe(4);
    expect(readyPods(fake, 2)).toBe(4);
    // The old release stays, at zero, for a fast rollback.
    expect(deployment(fake, 1)?.spec.replicas).toBe(0);
    expect(readyPods(fake, 1)).toBe(0);
    expect(fake.object('Service', NS, 'hello-production')?.spec.selector).toMatchObject({ 'slipway.dev/release': '2' });
    // Every apply was server-side apply as field manager slipway.
    expect(deployment(fake, 2)?.metadata.managedFields).toEqual([{ manager: 'slipway', operation: 'Apply', apiVersion: 'apps/v1' }]);
  });

  it('secrets reach the pods through a Secret; no other request carries the value', () => {
    const secret = fake.object('Secret', NS, 'hello-production-r2-secrets');
    expect(Buffer.from(secret?.data.DB_PASSWORD, 'base64').toString()).toBe(SECRET_VALUE);
    const env = deployment(fake, 2)?.spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'hello-production-r2-secrets', key: 'DB_PASSWORD' } } });
    const leaks = fake.calls.filter((c) => c.resource !== 'secrets' && c.body.includes(SECRET_VALUE));
    expect(leaks).toEqual([]);
  });

  it('abort returns all traffic to stable before scaling the canary to zero', async () => {
    const trace = newTrace();
    cluster.routeSplits.length = 0;
    const before = fake.calls.length;
    const outcome = await rollout.rollOut({ next: r3, stable: r2, strategy: CANARY, instances: 4, hooks: hooks({ trace, pause: 'abort' }) });
    expect(outcome).toEqual({ phase: 'rolled_back', reason: 'aborted while paused' });
    expect(cluster.routeSplits).toEqual(['r2=75 r3=25', 'r2=100']);
    const calls = fake.calls.slice(before);
    const routeBack = calls.findIndex((c) => c.resource === 'httproutes' && c.body.includes('"weight":100'));
    const canaryToZero = calls.findIndex((c) => c.name === 'hello-production-r3' && c.resource === 'deployments' && c.body.includes('"replicas":0'));
    expect(routeBack).toBeGreaterThanOrEqual(0);
    expect(canaryToZero).toBeGreaterThan(routeBack);
    expect(trace.analyses).toBe(0);
    expect(readyPods(fake, 3)).toBe(0);
    expect(readyPods(fake, 2)).toBe(4);
  });

  it('a canary whose pods crash-loop is rolled back without ever getting traffic', async () => {
    const trace = newTrace();
    cluster.routeSplits.length = 0;
    const outcome = await rollout.rollOut({ next: r4, stable: r2, strategy: CANARY, instances: 4, hooks: hooks({ trace }) });
    expect(outcome.phase).toBe('rolled_back');
    expect((outcome as { reason: string }).reason).toMatch(/^r4: pod hello-production-r4-\w+ restarted \d+ times \(CrashLoopBackOff\)$/);
    // The route already sent everything to r2, so it was never touched.
    expect(cluster.routeSplits).toEqual([]);
    expect(deployment(fake, 4)?.spec.replicas).toBe(0);
    expect(readyPods(fake, 2)).toBe(4);
  });

  it('rollback brings an earlier release back and collects releases beyond the history limit', async () => {
    cluster.routeSplits.length = 0;
    const outcome = await rollout.rollBack({ to: r1, from: r2, instances: 4, hooks: hooks({ trace: newTrace() }) });
    expect(outcome).toEqual({ phase: 'succeeded' });
    expect(readyPods(fake, 1)).toBe(4);
    expect(readyPods(fake, 2)).toBe(0);
    expect(cluster.routeSplits).toEqual(['r1=50 r2=50', 'r1=100']);
    // historyLimit 1: of the idle releases (r2, r3, r4) only the newest, r4, is kept.
    const left = fake.objects('Deployment', NS).map((d) => d.metadata.name).sort();
    expect(left).toEqual(['hello-production-r1', 'hello-production-r4']);
    expect(fake.object('Service', NS, 'hello-production-r2')).toBeUndefined();
    expect(fake.object('Secret', NS, 'hello-production-r3-secrets')).toBeUndefined();
    expect(fake.object('Secret', NS, 'hello-production-r1-secrets')).toBeDefined();
  });

  it('the RBAC rules in docs/kubernetes.md are exactly the verbs the driver used', () => {
    const doc = readFileSync(join(REPO, 'docs', 'kubernetes.md'), 'utf8');
    const block = /<!-- rbac:begin -->\s*```yaml\n([\s\S]*?)```\s*<!-- rbac:end -->/.exec(doc)?.[1];
    expect(block).toBeDefined();
    const role = parseAllDocuments(block!).map((d) => d.toJS()).find((o) => o.kind === 'Role');
    const documented = new Set<string>();
    for (const rule of role.rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[]) {
      for (const g of rule.apiGroups) for (const r of rule.resources) for (const v of rule.verbs) documented.add(`${g}/${r}:${v}`);
    }
    const used = new Set(fake.calls.map((c) => `${c.group}/${c.resource}:${c.verb}`));
    expect([...documented].sort()).toEqual([...used].sort());
  });
});

describe('kubernetes driver with traffic through slipway\'s router', () => {
  it('hands the router the per-release Services and their weights, and applies no HTTPRoute', async () => {
    const fake = new FakeKubeApi();
    const url = await fake.start();
    try {
      const rollout = new ClusterRollout({ api: new KubeCluster(kubeConfigFor(url, fake.token)), state: initialState('router', 3), secretValues: async () => ({}) });
      const splits: string[] = [];
      const routeWeights: RolloutHooks['routeWeights'] = async (ups) => {
        splits.push(ups.map((u) => `${u.host}:${u.port}=${u.weight}`).join(' '));
      };
      const a = release(1, []);
      const b = release(2, []);
      await rollout.rollOut({ next: a, stable: null, strategy: CANARY, instances: 2, hooks: hooks({ trace: newTrace(), routeWeights }) });
      splits.length = 0;
      expect(await rollout.rollOut({ next: b, stable: a, strategy: CANARY, instances: 2, hooks: hooks({ trace: newTrace(), routeWeights }) })).toEqual({ phase: 'succeeded' });
      expect(splits[0]).toBe('hello-production-r1.shop.svc:80=75 hello-production-r2.shop.svc:80=25');
      expect(splits.at(-1)).toBe('hello-production-r2.shop.svc:80=100');
      expect(fake.objects('HTTPRoute', NS)).toEqual([]);
      expect(fake.calls.some((c) => c.resource === 'secrets')).toBe(false);
    } finally {
      await fake.close();
    }
  });

  it('a canary that starts crash-looping while paused is aborted at once, not at the next step', async () => {
    const fake = new FakeKubeApi();
    const url = await fake.start();
    try {
      const rollout = new ClusterRollout({ api: new KubeCluster(kubeConfigFor(url, fake.token)), state: initialState('router', 3), secretValues: async () => ({}) });
      const a = release(1, []);
      const b = release(2, []);
      await rollout.rollOut({ next: a, stable: null, strategy: CANARY, instances: 2, hooks: hooks({ trace: newTrace() }) });
      let crashed = 0;
      const waitForPerson: RolloutHooks['pause'] = (_step, signal) => {
        // The canary has its share and the pause waits for a person; then its pods go bad.
        crashed = fake.crashPods({ 'slipway.dev/release': '2' });
        return new Promise((resolve) => signal.addEventListener('abort', () => resolve('go')));
      };
      const outcome = await rollout.rollOut({ next: b, stable: a, strategy: CANARY, instances: 2, hooks: { ...hooks({ trace: newTrace() }), pause: waitForPerson } });
      expect(crashed).toBe(1);
      expect(outcome.phase).toBe('rolled_back');
      expect((outcome as { reason: string }).reason).toMatch(/^r2: pod hello-production-r2-\w+ restarted 2 times \(CrashLoopBackOff\)$/);
      expect(fake.object('Deployment', NS, 'hello-production-r2')?.spec.replicas).toBe(0);
      expect(readyPods(fake, 1)).toBe(2);
    } finally {
      await fake.close();
    }
  });

  it('refuses a request the API answers with an error, without the response in the message', async () => {
    const fake = new FakeKubeApi();
    const url = await fake.start();
    try {
      const api = new KubeCluster(kubeConfigFor(url, 'wrong-token'));
      await expect(api.apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: NS }, data: { K: Buffer.from(SECRET_VALUE).toString('base64') } } as ClusterObject))
        .rejects.toThrow(/^applying Secret s failed: the API answered 401$/);
    } finally {
      await fake.close();
    }
  });
});

describe('kubeconfig', () => {
  it('uses the context slipway.yaml names from $KUBECONFIG, and refuses one that is not there', async () => {
    const fake = new FakeKubeApi({ token: 'ctx-token' });
    const url = await fake.start();
    const dir = mkdtempSync(join(tmpdir(), 'slipway-kubeconfig-'));
    const file = join(dir, 'config');
    writeFileSync(file, stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'other',
      clusters: [{ name: 'fake', cluster: { server: url, 'insecure-skip-tls-verify': true } }, { name: 'elsewhere', cluster: { server: 'http://127.0.0.1:9', 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'slipway', user: { token: 'ctx-token' } }],
      contexts: [{ name: 'prod', context: { cluster: 'fake', user: 'slipway' } }, { name: 'other', context: { cluster: 'elsewhere', user: 'slipway' } }],
    }));
    const saved = process.env['KUBECONFIG'];
    process.env['KUBECONFIG'] = file;
    try {
      expect(() => loadKubeConfig('staging-eu')).toThrow('kubeconfig has no context "staging-eu"; it has prod, other');
      // The current context points at a closed port: the error says so, with no response to show.
      await expect(new KubeCluster(loadKubeConfig(null)).listDeployments(NS, 'a=b')).rejects.toThrow(/^listing Deployment \(a=b\) failed: could not reach the cluster: .*ECONNREFUSED/);
      const api = new KubeCluster(loadKubeConfig('prod'));
      expect(await api.listDeployments(NS, 'slipway.dev/service=hello')).toEqual([]);
      expect(fake.calls.map((c) => `${c.verb} ${c.resource}`)).toEqual(['list deployments']);
    } finally {
      if (saved === undefined) delete process.env['KUBECONFIG'];
      else process.env['KUBECONFIG'] = saved;
      rmSync(dir, { recursive: true, force: true });
      await fake.close();
    }
  });
});
