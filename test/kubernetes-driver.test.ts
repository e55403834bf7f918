// The cluster client (runtime/kubernetes/cluster-client.ts) against a FAKE API server
// (test/support/fake-kube-api.ts): no real cluster can run here. The client is the
// real @kubernetes/client-node over HTTP on 127.0.0.1; the fake's limits are listed
// at the top of its file. Rollouts driven by the server through this client are
// tested in kubernetes-deploys.test.ts.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { KubeCluster, loadKubeConfig } from '../src/runtime/kubernetes/cluster-client.ts';
import type { ClusterObject } from '../src/runtime/kubernetes/manifests.ts';
import { FakeKubeApi } from './support/fake-kube-api.ts';

const NS = 'shop';
const SECRET_VALUE = 'p4ss-w0rd-never-inline';

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

describe('cluster client', () => {
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
