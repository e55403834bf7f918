// `slipway down` and `slipway remove` on a `runtime: kubernetes` environment, through
// the CLI. The cluster is the FAKE API server of test/support/fake-kube-api.ts (no
// Kubernetes API server can run on these machines): what is checked is what slipway
// asks of the cluster and what it records.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import { FakeKubeApi } from './support/fake-kube-api.ts';
import { freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess, type ServiceOptions } from './support/harness.ts';

const NS = 'shop';

describe('down and remove on a kubernetes cluster (a fake API server)', { timeout: 90_000 }, () => {
  const fake = new FakeKubeApi({ readyDelayMs: 150, terminateDelayMs: 100 });
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let service: ServiceOptions;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir, timeoutMs: 60_000 });
  const status = (env: string) => getJson<EnvironmentStatus>(`${server.url}/api/environments/${env}`);
  const mine = (kind: string) => fake.objects(kind, NS).filter((o) => o.metadata.labels?.['slipway.dev/environment'] === 'production' && !o.metadata.deletionTimestamp);
  const names = (kind: string) => mine(kind).map((o) => o.metadata.name).sort();

  beforeAll(async () => {
    await fake.start();
    work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    mkdirSync(dataDir, { recursive: true });
    const kubeconfig = fake.writeKubeconfig(work);
    service = {
      health: { startDeadline: '10s' },
      drainTimeout: '1s',
      killTimeout: '1s',
      envs: {
        production: {
          instances: 2, port: await freePort(), strategyYaml: 'type: rolling', config: { GREETING: 'hello' },
          extraYaml: ['runtime: kubernetes', 'kubernetes:', '  context: fake', `  namespace: ${NS}`, '  image: registry.example.com/hello:v{release}', '  traffic: gateway', '  gateway: infra/public'].join('\n'),
        },
      },
    };
    writeService(app, { ...service, version: '1.0.0' });
    server = await startServerProcess(dataDir, 'server.log', { ...process.env, KUBECONFIG: kubeconfig });
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
    await fake.close();
  });

  it('down deletes the route and scales every release to zero, keeping the history; a deploy brings it back', async () => {
    const first = await cli('deploy', 'production');
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(names('Deployment')).toEqual(['hello-production-r1']);
    expect(fake.object('HTTPRoute', NS, 'hello-production')).toBeDefined();
    expect(mine('Pod')).toHaveLength(2);

    const down = await cli('down', 'production');
    expect(down.code, down.stdout + down.stderr).toBe(0);
    expect(down.stdout).toContain('down hello/production (it ran #1): #1 (2 pod(s)) scaled to 0 on the cluster, its route deleted');
    // The Gateway has no route to it any more, and nothing of it runs.
    expect(fake.object('HTTPRoute', NS, 'hello-production')).toBeUndefined();
    expect(mine('Deployment').map((d) => [d.metadata.name, d.spec.replicas])).toEqual([['hello-production-r1', 0]]);
    await waitFor('its pods to be gone', () => mine('Pod').length === 0, 10_000);
    const st = await status('production');
    expect(st.down).toMatchObject({ release: 1 });
    expect(st.lastRollout?.to).toBe(1);
    // Nothing applies the route again behind the user's back.
    await new Promise((r) => setTimeout(r, 1500));
    expect(fake.object('HTTPRoute', NS, 'hello-production')).toBeUndefined();
    const again = await cli('down', 'production', '--json');
    expect(JSON.parse(again.stdout)).toMatchObject({ changed: false, clusterStopped: [] });

    writeService(app, { ...service, version: '2.0.0' });
    const up = await cli('deploy', 'production');
    expect(up.code, up.stdout + up.stderr).toBe(0);
    expect(fake.object('HTTPRoute', NS, 'hello-production')?.spec.rules[0].backendRefs).toEqual([{ name: 'hello-production-r2', port: 80, weight: 100 }]);
    expect(mine('Deployment').find((d) => d.metadata.name === 'hello-production-r2')?.spec.replicas).toBe(2);
    expect((await status('production')).down).toBeNull();
  });

  it('remove deletes every object slipway made for the environment from the cluster, and its records', async () => {
    const before = fake.objects('Deployment', NS).length + fake.objects('Service', NS).length;
    expect(before).toBeGreaterThan(0);
    const rm = await cli('remove', 'production', '--yes');
    expect(rm.code, rm.stdout + rm.stderr).toBe(0);
    expect(rm.stdout).toContain('removed hello/production: #2 (2 pod(s)) scaled to 0 on the cluster, every object of it deleted from the cluster; forgot 2 release(s)');
    await waitFor('its pods to be gone', () => mine('Pod').length === 0, 10_000);
    expect({ deployments: names('Deployment'), services: names('Service'), secrets: names('Secret'), routes: fake.objects('HTTPRoute', NS).map((o) => o.metadata.name) })
      .toEqual({ deployments: [], services: [], secrets: [], routes: [] });
    const gone = await cli('status', 'production');
    expect(gone.code).not.toBe(0);
    // A new environment of the same name starts from release 1 on an empty namespace.
    writeService(app, { ...service, version: '3.0.0' });
    const fresh = await cli('deploy', 'production');
    expect(fresh.code, fresh.stdout + fresh.stderr).toBe(0);
    expect(names('Deployment')).toEqual(['hello-production-r1']);
  });
});
