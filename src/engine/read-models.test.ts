import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../config/index.ts';
import type { ReleaseConfig } from '../core/records.ts';
import type { KubernetesSettings } from '../core/service-config.ts';
import { StateStore } from '../store/state-store.ts';
import { readModels } from './read-models.ts';

const YAML = `service: shop
run: { command: node server.js }
environments:
  production: { instances: 2, listen: 127.0.0.1:8080 }
`;

function releaseConfig(runtime: 'process' | 'kubernetes' = 'process'): ReleaseConfig {
  const { environments, ...rest } = parseConfigText(YAML, 'slipway.yaml');
  const environment = { ...environments.production!, runtime };
  if (runtime === 'kubernetes') environment.kubernetes = { namespace: 'shop-prod' } as KubernetesSettings;
  return { ...rest, environment, configVersion: null, overrides: {}, secrets: {} };
}

function fresh() {
  const store = new StateStore(join(mkdtempSync(join(tmpdir(), 'slipway-read-models-')), 'state.db'));
  store.ensureEnvironment('production');
  const digest = `sha256:${'a'.repeat(64)}`;
  store.putArtefact({ digest, service: 'shop', bytes: 1, path: '/nowhere.tar.gz', createdAt: 1 });
  const release = (config = releaseConfig()) => store.insertRelease({
    env: 'production', service: 'shop', artefactDigest: digest, config, configHash: 'h', dir: '/nowhere', createdAt: 1, createdBy: 'alice',
  });
  return { store, reads: readModels(store), release };
}

describe('read models', () => {
  it('lists an environment\'s releases newest first, marking the stable one', () => {
    const { store, reads, release } = fresh();
    const one = release();
    release();
    store.setStableRelease('production', one.id);
    const listed = reads.releases.list('production');
    expect(listed.stable).toBe(one.id);
    expect(listed.releases.map((r) => [r.number, r.isStable])).toEqual([[2, false], [1, true]]);
    expect(reads.releases.byNumber('production', 2)?.number).toBe(2);
    expect(reads.releases.byNumber('production', 3)).toBeNull();
  });

  it('pages an environment\'s releases newest first, saying how many there are and where the next page starts', () => {
    const { reads, release } = fresh();
    for (let i = 0; i < 5; i++) release();
    const first = reads.releases.list('production', { limit: 2 });
    expect([first.releases.map((r) => r.number), first.total, first.more, first.next]).toEqual([[5, 4], 5, true, 4]);
    const second = reads.releases.list('production', { limit: 2, before: first.next! });
    expect([second.releases.map((r) => r.number), second.more, second.next]).toEqual([[3, 2], true, 2]);
    const last = reads.releases.list('production', { limit: 2, before: second.next! });
    expect([last.releases.map((r) => r.number), last.more, last.next]).toEqual([[1], false, null]);
    // A page that ends exactly at the oldest says no more follow.
    expect(reads.releases.list('production', { limit: 5 })).toMatchObject({ more: false, next: null, total: 5 });
  });

  it('names each instance\'s log file with its release\'s number', () => {
    const { store, reads, release } = fresh();
    const r = release();
    store.insertInstance({
      id: 'production-1-abc', env: 'production', releaseId: r.id, runtime: 'process', runtimeRef: null, port: 5000, pid: null, procStart: null,
      state: 'ready', logPath: '/logs/production-1-abc.log', lastError: null, createdAt: 1, readyAt: 2, stoppedAt: null,
    });
    expect(reads.logs.sources('production', 10)).toEqual([{ instance: 'production-1-abc', release: 1, logPath: '/logs/production-1-abc.log' }]);
  });

  it('says where an environment\'s output is kept only when it runs on a cluster', () => {
    const { store, reads, release } = fresh();
    expect(reads.logs.kept('production')).toBeNull();
    store.setStableRelease('production', release().id);
    expect(reads.logs.kept('production')).toBeNull();
    store.setStableRelease('production', release(releaseConfig('kubernetes')).id);
    expect(reads.logs.kept('production')).toEqual({ service: 'shop', namespace: 'shop-prod' });
  });
});
