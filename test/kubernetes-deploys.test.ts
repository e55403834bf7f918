// A slipway server driving `runtime: kubernetes` environments, through the CLI, as a
// user would. No Kubernetes API server can run on these machines, so the cluster is
// the FAKE of test/support/fake-kube-api.ts: an HTTP server on 127.0.0.1 that speaks
// the REST paths and JSON of the real API (the server reaches it with the official
// client, through a kubeconfig file) and plays a crude Deployment controller and
// kubelet. Its limits are listed at the top of that file; above all, its pods run
// nothing, so no request reaches a pod: what is checked is what slipway asks of the
// cluster, in what order, and what it records.

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { parseAllDocuments, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import { FakeKubeApi } from './support/fake-kube-api.ts';
import { startPrometheus, type RunningPrometheus } from './support/prometheus.ts';
import { REPO, adminToken, freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess, type ServiceOptions } from './support/harness.ts';
import { allowInPolicy, LOOPBACK_ALLOWED } from './support/admin-policy.ts';

const NS = 'shop';
const SECRET_VALUE = 'k8s-s3cret-never-inline-or-logged';

type Obj = ReturnType<FakeKubeApi['objects']>[number];

function writeKubeconfig(dir: string, url: string, token: string): string {
  const file = join(dir, 'kubeconfig');
  writeFileSync(file, stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'elsewhere',
    clusters: [{ name: 'fake', cluster: { server: url, 'insecure-skip-tls-verify': true } }, { name: 'closed', cluster: { server: 'http://127.0.0.1:9' } }],
    users: [{ name: 'slipway', user: { token } }],
    contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'slipway' } }, { name: 'elsewhere', context: { cluster: 'closed', user: 'slipway' } }],
  }));
  return file;
}

describe('deploys on a kubernetes cluster (a fake API server)', { timeout: 90_000 }, () => {
  const fake = new FakeKubeApi({ readyDelayMs: 150, terminateDelayMs: 100, restartEveryMs: 150, crashImage: /:crash-/ });
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let serverEnv: NodeJS.ProcessEnv;
  let service: ServiceOptions;
  let routerPort: number;
  let prometheus: RunningPrometheus | null = null;
  /** What the canary's error ratio is, as the exporter Prometheus scrapes says. */
  let canaryErrorRatio = 0;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir, timeoutMs: 60_000 });
  const status = (env: string) => getJson<EnvironmentStatus>(`${server.url}/api/environments/${env}`);
  const deployment = (env: string, n: number): Obj | undefined => fake.object('Deployment', NS, `hello-${env}-r${n}`);
  const split = (env: string): string => {
    const route = fake.object('HTTPRoute', NS, `hello-${env}`);
    return (route?.spec.rules[0].backendRefs as { name: string; weight: number }[] ?? []).map((b) => `${b.name.replace(`hello-${env}-`, '')}=${b.weight}`).join(' ');
  };
  const readyPods = (env: string, n: number) => fake.objects('Pod', NS).filter((p) => p.metadata.labels['slipway.dev/environment'] === env
    && p.metadata.labels['slipway.dev/release'] === String(n) && !p.metadata.deletionTimestamp && p.status.conditions[0].status === 'True').length;
  /** The HTTPRoute is applied just after the step is recorded: wait for it. */
  const waitForSplit = (env: string, want: string) => waitFor(`${env}'s HTTPRoute to split ${want}`, () => split(env) === want, 10_000);
  const waitForStep = (env: string, current: string) =>
    waitFor(`${env} to reach "${current}"`, async () => (await status(env)).rollout?.current === current, 30_000);
  const waitForEnd = async (env: string) => {
    await waitFor(`${env}'s rollout to end`, async () => (await status(env)).rollout === null, 45_000);
    return (await status(env)).lastRollout!;
  };
  const kubeEnv = (o: { image?: string; traffic?: 'gateway' | 'router'; history?: number } = {}) => [
    'runtime: kubernetes',
    'kubernetes:',
    '  context: fake',
    `  namespace: ${NS}`,
    `  image: registry.example.com/hello:${o.image ?? 'v{release}'}`,
    `  traffic: ${o.traffic ?? 'gateway'}`,
    ...(o.traffic === 'router' ? [] : ['  gateway: infra/public']),
    `  history: ${o.history ?? 1}`,
  ].join('\n');
  const canary = 'type: canary\nsteps:\n  - weight: 25\n  - pause: {}\n  - weight: 50';
  /** Deploys `version` to production and waits until its canary has 25% and waits for a person. */
  const canaryAtPause = async (version: string, want: string) => {
    writeVersion(version);
    const d = await cli('deploy', 'production', '--detach');
    expect(d.code, d.stdout + d.stderr).toBe(0);
    await waitForStep('production', 'pause until promoted');
    await waitForSplit('production', want);
  };
  const writeVersion = (version: string, production: { image?: string } = {}) => {
    service.envs['production']!.extraYaml = kubeEnv({ ...production, history: 1 });
    writeService(app, { ...service, version });
  };

  beforeAll(async () => {
    const url = await fake.start();
    work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    mkdirSync(dataDir, { recursive: true });
    routerPort = await freePort();
    serverEnv = { ...process.env, KUBECONFIG: writeKubeconfig(work, url, fake.token) };
    // The server and Prometheus start side by side: the server reads slipway.yaml only with a deploy.
    [server, prometheus] = await Promise.all([
      startServerProcess(dataDir, 'server.log', serverEnv),
      startPrometheus({ metrics: () => `# TYPE hello_canary_error_ratio gauge\nhello_canary_error_ratio ${canaryErrorRatio}\n`, ready: 'hello_canary_error_ratio' }),
    ]);
    const analysed = [
      'type: canary', 'steps:', '  - weight: 25', '  - analysis:', '      prometheus:',
      `        - { name: errors, query: hello_canary_error_ratio, max: 0.1, url: "${prometheus?.url ?? 'http://127.0.0.1:9'}" }`,
      '      deadline: 30s', '      inconclusive: fail', '  - weight: 50',
    ].join('\n');
    service = {
      health: { startDeadline: '10s' },
      drainTimeout: '1s',
      killTimeout: '1s',
      envs: {
        production: { instances: 2, port: await freePort(), strategyYaml: canary, config: { GREETING: 'hello' }, extraYaml: '' },
        staging: { instances: 2, port: routerPort, strategyYaml: canary, extraYaml: kubeEnv({ traffic: 'router' }) },
        analysed: { instances: 2, port: await freePort(), strategyYaml: analysed, extraYaml: kubeEnv() },
        blue: { instances: 2, port: await freePort(), strategyYaml: 'type: blue-green\nauto_promote: false\nscale_down_delay: 1s', extraYaml: kubeEnv() },
      },
    };
    writeVersion('1.0.0');
    // The Prometheus on loopback is the admin's to allow (issue 19): refused by default.
    // The policy and the secret are the admin's two CLI calls, made side by side.
    const [, secret] = await Promise.all([
      allowInPolicy({ cwd: app, dataDir, yaml: LOOPBACK_ALLOWED }),
      runCli(['secret', 'set', 'production', 'API_KEY', '--no-rollout'], { cwd: app, dataDir, input: `${SECRET_VALUE}\n` }),
    ]);
    expect(secret.code, secret.stdout + secret.stderr).toBe(0);
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
    await fake.close();
    await prometheus?.stop();
  });

  it('a first deploy applies the release at full size and gives it all the traffic once its pods are ready', async () => {
    const r = await cli('deploy', 'production');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(deployment('production', 1)?.spec.replicas).toBe(2);
    expect(deployment('production', 1)?.spec.template.spec.containers[0].image).toBe('registry.example.com/hello:v1');
    expect(readyPods('production', 1)).toBe(2);
    expect(split('production')).toBe('r1=100');
    expect(fake.object('Service', NS, 'hello-production')?.spec.selector).toMatchObject({ 'slipway.dev/release': '1' });
    const st = await status('production');
    expect(st.stable?.number).toBe(1);
    expect(st.cluster).toMatchObject({ context: 'fake', namespace: NS, traffic: 'gateway', releases: [{ release: 1, replicas: 2, serving: 2 }] });
    await waitFor('the live pod view', async () => (await status('production')).cluster?.releases[0]?.live?.ready === 2, 10_000);
    expect(st.instances).toEqual([]);
    const logs = await cli('logs', 'production');
    expect(logs.code).not.toBe(0);
    expect(logs.stderr).toContain('hello/production runs on a Kubernetes cluster, which keeps its pods\' output: kubectl logs -n shop -l slipway.dev/service=hello,slipway.dev/environment=production');
    const text = await cli('status', 'production');
    expect(text.stdout).toContain('cluster:  namespace shop, context fake, traffic by gateway');
    expect(text.stdout).toContain('#1    2 replica(s), 2 ready and serving');
  });

  it('secrets reach the pods through a Secret only: never in another request, the status or the server log', async () => {
    const secret = fake.object('Secret', NS, 'hello-production-r1-secrets');
    expect(Buffer.from(secret?.data.API_KEY, 'base64').toString()).toBe(SECRET_VALUE);
    expect(deployment('production', 1)?.spec.template.spec.containers[0].env).toContainEqual({
      name: 'API_KEY', valueFrom: { secretKeyRef: { name: 'hello-production-r1-secrets', key: 'API_KEY' } },
    });
    expect(fake.calls.filter((c) => c.resource !== 'secrets' && c.body.includes(SECRET_VALUE))).toEqual([]);
    expect(JSON.stringify(await status('production'))).not.toContain(SECRET_VALUE);
    expect(readFileSync(join(work, 'server.log'), 'utf8')).not.toContain(SECRET_VALUE);
  });

  it('a canary moves the HTTPRoute by its weights, and survives kill -9 of the server while its pods start and at a pause', async () => {
    writeVersion('2.0.0');
    // Slow pods: the server is killed while it waits for the canary's pod to be Ready.
    fake.setReadyDelay(3000);
    const d = await cli('deploy', 'production', '--detach');
    expect(d.code, d.stdout + d.stderr).toBe(0);
    await waitForStep('production', '#2 to 1 instance(s)');
    await waitFor('the canary pod to be made', () => fake.objects('Pod', NS).some((p) => p.metadata.labels['slipway.dev/release'] === '2' && p.metadata.labels['slipway.dev/environment'] === 'production'), 10_000);
    await server.kill9();
    expect(readyPods('production', 2)).toBe(0);
    expect(split('production')).toBe('r1=100');
    fake.setReadyDelay(150);
    server = await startServerProcess(dataDir, 'server.log', serverEnv);
    await waitForStep('production', 'pause until promoted');
    await waitForSplit('production', 'r1=75 r2=25');
    expect(deployment('production', 2)?.spec.replicas).toBe(1);
    expect(readyPods('production', 2)).toBe(1);

    await server.kill9();
    server = await startServerProcess(dataDir, 'server.log', serverEnv);
    const st = await status('production');
    expect(st.rollout?.current).toBe('pause until promoted');
    expect(st.cluster?.releases.map(({ live: _l, ...r }) => r)).toEqual([{ release: 1, replicas: 2, serving: 2 }, { release: 2, replicas: 1, serving: 1 }]);
    expect(split('production')).toBe('r1=75 r2=25');

    const p = await cli('promote', 'production');
    expect(p.code, p.stdout + p.stderr).toBe(0);
    const last = await waitForEnd('production');
    expect(last.phase).toBe('succeeded');
    expect(split('production')).toBe('r2=100');
    expect(deployment('production', 2)?.spec.replicas).toBe(2);
    // The old release stays, at zero replicas, so that a rollback is a scale-up.
    expect(deployment('production', 1)?.spec.replicas).toBe(0);
    expect(readyPods('production', 1)).toBe(0);
    // Every object was applied server-side, as field manager slipway.
    expect(deployment('production', 2)?.metadata.managedFields).toEqual([{ manager: 'slipway', operation: 'Apply', apiVersion: 'apps/v1' }]);
  });

  it('a release whose pods crash-loop fails its rollout and never gets a share of traffic', async () => {
    writeVersion('3.0.0', { image: 'crash-{release}' });
    const before = fake.calls.length;
    const d = await cli('deploy', 'production');
    expect(d.code).not.toBe(0);
    const last = await waitForEnd('production');
    expect(last.phase).toBe('failed');
    expect(last.reason).toMatch(/production#3: pod hello-production-r3-\w+ restarted \d+ times \(CrashLoopBackOff\)/);
    const routes = fake.calls.slice(before).filter((c) => c.resource === 'httproutes');
    expect(routes.every((c) => !c.body.includes('hello-production-r3'))).toBe(true);
    expect(split('production')).toBe('r2=100');
    expect(deployment('production', 3)?.spec.replicas).toBe(0);
    expect(readyPods('production', 2)).toBe(2);
    // Put back at full size by the abort, the stable release keeps its own image, not the new template.
    expect(deployment('production', 2)?.spec.template.spec.containers[0].image).toBe('registry.example.com/hello:v2');
    expect(deployment('production', 3)?.spec.template.spec.containers[0].image).toBe('registry.example.com/hello:crash-3');
  });

  it('abort at a pause sends all traffic back to stable before the canary is scaled to zero', async () => {
    await canaryAtPause('4.0.0', 'r2=75 r4=25');
    const before = fake.calls.length;
    const a = await cli('abort', 'production', '--wait');
    expect(a.code, a.stdout + a.stderr).toBe(0);
    const last = await waitForEnd('production');
    expect(last.phase).toBe('rolled_back');
    const calls = fake.calls.slice(before);
    const routeBack = calls.findIndex((c) => c.resource === 'httproutes' && c.body.includes('"weight":100') && !c.body.includes('r4'));
    const canaryToZero = calls.findIndex((c) => c.resource === 'deployments' && c.name === 'hello-production-r4' && c.body.includes('"replicas":0'));
    expect(routeBack).toBeGreaterThanOrEqual(0);
    expect(canaryToZero).toBeGreaterThan(routeBack);
    expect(split('production')).toBe('r2=100');
    expect(readyPods('production', 4)).toBe(0);
  });

  it('a canary that starts crash-looping while paused is rolled back then, not at the next step', async () => {
    await canaryAtPause('5.0.0', 'r2=75 r5=25');
    expect(fake.crashPods({ 'slipway.dev/environment': 'production', 'slipway.dev/release': '5' })).toBe(1);
    const last = await waitForEnd('production');
    expect(last.phase).toBe('failed');
    expect(last.reason).toMatch(/production#5: pod hello-production-r5-\w+ restarted 2 times \(CrashLoopBackOff\)/);
    expect(split('production')).toBe('r2=100');
    expect(deployment('production', 5)?.spec.replicas).toBe(0);
  });

  it('rollback scales an earlier release back up by the rolling path, then collects releases beyond the history limit', async () => {
    const r = await cli('rollback', 'production', '--to', '1');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const last = await waitForEnd('production');
    expect(last.phase).toBe('succeeded');
    expect(split('production')).toBe('r1=100');
    expect(readyPods('production', 1)).toBe(2);
    expect(readyPods('production', 2)).toBe(0);
    expect(last.steps).toEqual(['production#1 to 2 instance(s)', 'production#2 to 0 instance(s)'].map((x) => x.replace('production', '')));
    // history 1: of the idle releases (2 to 5) only the newest is kept.
    // Each old release's Deployment, Service and Secret go one API call after another.
    await waitFor('old releases to be deleted', () => [2, 3, 4].every((n) => deployment('production', n) === undefined)
      && fake.object('Service', NS, 'hello-production-r2') === undefined && fake.object('Secret', NS, 'hello-production-r3-secrets') === undefined, 15_000);
    expect(fake.objects('Deployment', NS).filter((o) => o.metadata.labels['slipway.dev/environment'] === 'production').map((o) => o.metadata.name).sort())
      .toEqual(['hello-production-r1', 'hello-production-r5']);
    expect(fake.object('Service', NS, 'hello-production-r2')).toBeUndefined();
    expect(fake.object('Secret', NS, 'hello-production-r3-secrets')).toBeUndefined();
    // A release's record goes after the last of its objects: a moment after the ones waited for above.
    await expect.poll(async () => (await status('production')).cluster?.releases.map((x) => x.release), { timeout: 10_000 }).toEqual([1, 5]);
  });

  it('with traffic: router, slipway\'s router splits between the per-release Services and no HTTPRoute is made', async () => {
    const a = await cli('deploy', 'staging');
    expect(a.code, a.stdout + a.stderr).toBe(0);
    service.envs['staging']!.config = { GREETING: 'hi' };
    writeService(app, { ...service, version: '4.0.1' });
    const d = await cli('deploy', 'staging', '--detach');
    expect(d.code, d.stdout + d.stderr).toBe(0);
    await waitForStep('staging', 'pause until promoted');
    const st = await status('staging');
    expect(st.weights).toEqual({ 1: 75, 2: 25 });
    expect(st.cluster?.traffic).toBe('router');
    // The router's own table, as it keeps it on disk.
    const table = () => JSON.parse(readFileSync(join(dataDir, 'router', 'routes.json'), 'utf8')) as { environments: Record<string, { backends: { url: string }[] }> };
    await waitFor('the router to have both releases', () => table().environments['hello/staging']!.backends.length === 2, 10_000);
    expect(table().environments['hello/staging']!.backends.map((b) => b.url).sort()).toEqual(['http://hello-staging-r1.shop.svc:80', 'http://hello-staging-r2.shop.svc:80']);
    expect(table().environments['hello/production']).toBeUndefined();
    expect(fake.object('HTTPRoute', NS, 'hello-staging')).toBeUndefined();
    const p = await cli('promote', 'staging');
    expect(p.code, p.stdout + p.stderr).toBe(0);
    expect((await waitForEnd('staging')).phase).toBe('succeeded');
    expect((await status('staging')).weights).toEqual({ 2: 100 });
  });

  it.skipIf(!existsSync('/usr/bin/chromium') && !process.env.CI)('the dashboard shows the cluster: namespace, who splits traffic, pods ready per release', async () => {
    const profile = mkdtempSync(join(tmpdir(), 'slipway-chromium-'));
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium', headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    try {
      const page = await browser.newPage();
      page.setDefaultTimeout(30_000);
      await page.goto(`${server.url}/ui/#/env/production`);
      await page.getByLabel('API token').fill(adminToken(dataDir)!);
      await page.getByRole('button', { name: 'Sign in' }).click();
      const card = page.getByTestId('cluster');
      await card.waitFor();
      expect(await card.innerText()).toMatch(/Namespace shop in context fake; traffic split by an HTTPRoute\./);
      expect(await card.locator('tbody tr').allInnerTexts()).toEqual(['#1\t2\t2\t2/2\t0']);
      expect(await card.innerText()).toContain('Kept at zero replicas for a fast rollback: #5.');
      expect(await page.getByTestId('release-row-1').getByTestId('pods').innerText()).toBe('2/2 ready');
      expect(await page.getByTestId('release-row-1').getByTestId('weight').innerText()).toBe('100%');
    } finally {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });

  it('on a Gateway-split cluster a Prometheus check promotes a good canary and rolls back a bad one', async (ctx) => {
    if (!prometheus) ctx.skip();
    expect((await cli('deploy', 'analysed')).code).toBe(0);
    canaryErrorRatio = 0.01;
    writeService(app, { ...service, version: '7.0.0' });
    const good = await cli('deploy', 'analysed');
    expect(good.code, good.stdout + good.stderr).toBe(0);
    expect(good.stdout).toMatch(/analysis \(step 3\): pass: every check passed/);
    expect(split('analysed')).toBe('r2=100');

    canaryErrorRatio = 0.4;
    // Prometheus scrapes every second: the figure the analysis will read is the bad one.
    await waitFor('Prometheus to see the new ratio', async () => {
      const a = await getJson<{ data: { result: { value: [number, string] }[] } }>(`${prometheus!.url}/api/v1/query?query=hello_canary_error_ratio`);
      return a.data.result[0]?.value[1] === '0.4';
    }, 15_000);
    writeService(app, { ...service, version: '7.1.0' });
    const bad = await cli('deploy', 'analysed');
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/analysis failed: errors: 0\.4 is above the max 0\.1 \(hello_canary_error_ratio\)/);
    expect((await waitForEnd('analysed')).phase).toBe('failed');
    await waitForSplit('analysed', 'r2=100');
    expect(deployment('analysed', 3)?.spec.replicas).toBe(0);
    expect((await status('analysed')).stable?.number).toBe(2);
  });

  it('blue-green brings the new colour to full size on no traffic, switches the HTTPRoute at once when promoted, then scales the old one to zero', async () => {
    expect((await cli('deploy', 'blue')).code).toBe(0);
    writeService(app, { ...service, version: '8.0.0' });
    const d = await cli('deploy', 'blue', '--detach');
    expect(d.code, d.stdout + d.stderr).toBe(0);
    await waitFor('the green colour to wait for promotion', async () => (await status('blue')).rollout?.phase === 'paused' || /promot/.test((await status('blue')).rollout?.current ?? ''), 20_000);
    await waitFor('both colours at full size', () => readyPods('blue', 1) === 2 && readyPods('blue', 2) === 2, 10_000);
    expect(split('blue')).toBe('r1=100');
    const before = fake.calls.length;
    const p = await cli('promote', 'blue');
    expect(p.code, p.stdout + p.stderr).toBe(0);
    expect((await waitForEnd('blue')).phase).toBe('succeeded');
    const routes = fake.calls.slice(before).filter((c) => c.resource === 'httproutes').map((c) => JSON.parse(c.body).spec.rules[0].backendRefs.map((b: { name: string; weight: number }) => `${b.name.replace('hello-blue-', '')}=${b.weight}`).join(' '));
    // One switch, no split in between (the same weights written again, by a retry or the drift check, are no split).
    expect(routes.filter((r, i) => r !== routes[i - 1])).toEqual(['r2=100']);
    expect(deployment('blue', 1)?.spec.replicas).toBe(0);

    // Later its pods start crash-looping: status shows what the cluster reports, beside what slipway asked for.
    expect(fake.crashPods({ 'slipway.dev/environment': 'blue', 'slipway.dev/release': '2' })).toBe(2);
    await waitFor('status to show the crash loop', async () => {
      const r2 = (await status('blue')).cluster?.releases.find((r) => r.release === 2);
      return r2?.live?.ready === 0 && r2.live.restarts >= 2;
    }, 10_000);
    const text = await cli('status', 'blue');
    expect(text.stdout).toMatch(/#2 {4}2 replica\(s\), 2 ready and serving, now 0\/2 pod\(s\) Ready, \d+ restart\(s\)/);
  });

  it('refuses to move an environment between this machine and a cluster, and changes nothing', async () => {
    service.envs['staging']!.extraYaml = '';
    writeService(app, { ...service, version: '6.0.0' });
    const r = await cli('deploy', 'staging');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('hello/staging runs on kubernetes (#2); slipway.yaml now says runtime: process');
    expect((await status('staging')).stable?.number).toBe(2);
    service.envs['staging']!.extraYaml = kubeEnv({ traffic: 'router' }).replace(`namespace: ${NS}`, 'namespace: elsewhere');
    writeService(app, { ...service, version: '6.0.1' });
    const moved = await cli('deploy', 'staging');
    expect(moved.code).not.toBe(0);
    expect(moved.stderr).toContain('staging runs with kubernetes.namespace: shop (#2); slipway.yaml now says elsewhere');
    expect(fake.objects('Deployment', 'elsewhere')).toEqual([]);
  });

  it('the RBAC rules in docs/kubernetes.md are exactly the verbs the server used', () => {
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
