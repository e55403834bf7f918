import { describe, expect, it } from 'vitest';
import { DEFAULT_ANALYSIS } from './analysis/index.ts';
import type { ReleaseConfig } from './records.ts';
import { changedSettings, configKeyChanges } from './release-changes.ts';

const base: ReleaseConfig = {
  service: 'hello',
  run: { argv: ['node', 'server.js'], command: 'node server.js', portEnv: 'PORT' },
  image: { dockerfile: 'Dockerfile', ref: null },
  health: { path: '/healthz', intervalMs: 1000, timeoutMs: 2000, healthyThreshold: 2, unhealthyThreshold: 3, startDeadlineMs: 30_000 },
  shutdown: { drainTimeoutMs: 10_000, killTimeoutMs: 5000 },
  environment: {
    name: 'production', runtime: 'process', resources: null, instances: 2, listen: { host: '127.0.0.1', port: 8080 },
    strategy: { type: 'rolling', batch: { count: 1 }, maxUnavailable: { count: 0 } },
    config: { A: '1', B: '2' }, secrets: {}, analysis: { spec: DEFAULT_ANALYSIS, deadlineMs: null, prometheus: [] }, watchMs: 120_000,
  },
  configVersion: 3,
  overrides: { B: 'cli' },
  secrets: { S: { provider: 'store', version: 1 }, F: { provider: 'file', path: '/run/f', fingerprint: 'x' } },
};

describe('configKeyChanges', () => {
  it('lists added, removed and changed keys, plain values as they are and secrets by reference', () => {
    const next: ReleaseConfig = {
      ...base,
      environment: { ...base.environment, config: { B: '2', C: '3' } },
      overrides: {},
      secrets: { S: { provider: 'store', version: 2 }, F: { provider: 'file', path: '/run/f', fingerprint: 'y' }, V: { provider: 'vault', mount: 'secret', path: 'p', key: 'k', version: 7 } },
    };
    expect(configKeyChanges(base, next)).toEqual([
      { key: 'A', kind: 'plain', change: 'removed', from: '1', to: null },
      { key: 'B', kind: 'plain', change: 'changed', from: 'cli', to: '2' },
      { key: 'C', kind: 'plain', change: 'added', from: null, to: '3' },
      { key: 'F', kind: 'secret', change: 'changed', from: 'file /run/f', to: 'file /run/f (new value)' },
      { key: 'S', kind: 'secret', change: 'changed', from: 'store v1', to: 'store v2' },
      { key: 'V', kind: 'secret', change: 'added', from: null, to: 'vault secret/p#k v7' },
    ]);
  });

  it('against no stable release, everything is added; against itself, nothing changes', () => {
    expect(configKeyChanges(null, base).map((c) => `${c.change} ${c.key}`)).toEqual(['added A', 'added B', 'added F', 'added S']);
    expect(configKeyChanges(base, base)).toEqual([]);
    expect(changedSettings(base, base)).toEqual([]);
  });

  it('names the other settings that changed', () => {
    const next = { ...base, health: { ...base.health, path: '/ready' }, environment: { ...base.environment, listen: { host: '127.0.0.1', port: 9090 } } };
    expect(changedSettings(base, next)).toEqual(['health', 'listen']);
  });

  it('names each setting that differs, in a fixed order, whatever the order of keys inside it', () => {
    const next: ReleaseConfig = {
      ...base,
      run: { ...base.run, argv: ['node', 'app.js'] },
      image: { dockerfile: null, ref: 'hello:2' },
      shutdown: { ...base.shutdown, drainTimeoutMs: 1 },
      environment: {
        ...base.environment, runtime: 'docker', resources: { memoryMb: 256 } as never, watchMs: 1,
        analysis: { ...base.environment.analysis, deadlineMs: 60_000 }, proxy: { maxBodyBytes: 1 } as never,
      },
    };
    expect(changedSettings(base, next)).toEqual(['run', 'shutdown', 'analysis', 'watch', 'runtime', 'resources', 'proxy', 'image']);
    const reordered = { ...base, health: Object.fromEntries(Object.entries(base.health).reverse()) as ReleaseConfig['health'] };
    expect(changedSettings(base, reordered)).toEqual([]);
    const argvOrder = { ...base, run: { ...base.run, argv: ['server.js', 'node'] } };
    expect(changedSettings(base, argvOrder)).toEqual(['run']);
    expect(changedSettings(null, base)).toEqual([]);
  });

  it('a secret pinned the same way, written in another key order, is not a change; one dropped is removed', () => {
    const same: ReleaseConfig = { ...base, secrets: { F: { fingerprint: 'x', path: '/run/f', provider: 'file' } as never, S: { provider: 'store', version: 1 } } };
    expect(configKeyChanges(base, same)).toEqual([]);
    const dropped: ReleaseConfig = { ...base, secrets: { S: { provider: 'store', version: 1 } } };
    expect(configKeyChanges(base, dropped)).toEqual([{ key: 'F', kind: 'secret', change: 'removed', from: 'file /run/f', to: null }]);
    const zKey: ReleaseConfig = { ...base, secrets: { ...base.secrets, Z: { provider: 'env', name: 'SLIPWAY_SECRET_PRODUCTION_Z', fingerprint: 'z' } }, environment: { ...base.environment, config: { A: '1', B: '2', Y: '9' } } };
    expect(configKeyChanges(base, zKey).map((c) => c.key)).toEqual(['Y', 'Z']);
    const ab: ReleaseConfig = { ...base, secrets: { B2: { provider: 'store', version: 1 }, A2: { provider: 'store', version: 1 }, ...base.secrets } };
    expect(configKeyChanges(base, ab).map((c) => c.key)).toEqual(['A2', 'B2']);
  });
});

