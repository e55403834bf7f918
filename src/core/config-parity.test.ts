import { describe, expect, it } from 'vitest';
import { parityReport } from './config-parity.ts';
import { configView, describeExternalSecret, describePinnedSecret, type ConfigEntry } from './config-view.ts';

describe('configView', () => {
  it('lets CLI-set values and stored secrets win over slipway.yaml, and names the source of each key', () => {
    const v = configView({
      yamlConfig: { A: 'yaml-a', B: 'yaml-b', C: 'yaml-c' },
      yamlSecrets: { S1: { provider: 'vault', mount: 'secret', path: 'app', key: 's1' }, S2: { provider: 'file', path: '/run/s2' } },
      overrides: { B: 'cli-b', D: 'cli-d' },
      storeSecrets: { S2: { version: 3, fingerprint: 'f2' }, C: { version: 1, fingerprint: 'fc' } },
    });
    expect(v.entries).toEqual([
      { key: 'A', kind: 'plain', value: 'yaml-a', source: 'slipway.yaml', overridesYaml: false },
      { key: 'B', kind: 'plain', value: 'cli-b', source: 'cli', overridesYaml: true },
      { key: 'C', kind: 'secret', provider: 'store', reference: 'store v1', fingerprint: 'fc', source: 'cli' },
      { key: 'D', kind: 'plain', value: 'cli-d', source: 'cli', overridesYaml: false },
      { key: 'S1', kind: 'secret', provider: 'vault', reference: 'vault secret/app#s1', fingerprint: null, source: 'slipway.yaml' },
      { key: 'S2', kind: 'secret', provider: 'store', reference: 'store v3', fingerprint: 'f2', source: 'cli' },
    ]);
    expect(v.conflicts).toEqual(['C']);
  });
});

describe('parityReport', () => {
  const plain = (key: string, value: string) => ({ key, kind: 'plain' as const, value, source: 'slipway.yaml' as const, overridesYaml: false });
  const secret = (key: string, fingerprint: string | null, reference = 'store v1') => ({ key, kind: 'secret' as const, provider: 'store' as const, reference, fingerprint, source: 'cli' as const });

  it.each([
    ['same plain value', [plain('K', 'v')], [plain('K', 'v')], { status: 'same', kind: 'plain', left: 'v', right: 'v' }],
    ['different plain values', [plain('K', 'a')], [plain('K', 'b')], { status: 'differs', kind: 'plain', left: 'a', right: 'b' }],
    ['left only', [plain('K', 'a')], [], { status: 'only-left', kind: 'plain', left: 'a', right: null }],
    ['right only', [], [secret('K', 'f')], { status: 'only-right', kind: 'secret', left: null, right: 'secret (store v1)' }],
    ['secrets with equal fingerprints', [secret('K', 'f', 'store v1')], [secret('K', 'f', 'store v4')], { status: 'same', kind: 'secret' }],
    ['secrets with different fingerprints', [secret('K', 'f')], [secret('K', 'g')], { status: 'differs', kind: 'secret' }],
    ['external secrets with the same reference', [secret('K', null, 'vault secret/a#k')], [secret('K', null, 'vault secret/a#k')], { status: 'same', kind: 'secret' }],
    ['external secrets with different references', [secret('K', null, 'vault secret/a#k')], [secret('K', null, 'vault secret/b#k')], { status: 'differs', kind: 'secret' }],
    ['a stored secret against an external one', [secret('K', 'f')], [secret('K', null, 'vault secret/a#k')], { status: 'differs', kind: 'secret' }],
    ['plain on one side, secret on the other', [plain('K', 'v')], [secret('K', 'f')], { status: 'differs', kind: 'mixed', left: 'v', right: 'secret (store v1)' }],
  ])('%s', (_name, left, right, expected) => {
    const rows = parityReport(left, right);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ key: 'K', ...expected });
  });

  it('never shows a secret by anything but its reference', () => {
    const rows = parityReport([secret('K', 'fingerprint-a')], [secret('K', 'fingerprint-b')]);
    expect(JSON.stringify(rows)).not.toContain('fingerprint');
  });
});

describe('configView and the parity report at their edges', () => {
  const plain = (key: string, value: string): ConfigEntry => ({ key, kind: 'plain', value, source: 'slipway.yaml', overridesYaml: false });
  const secret = (key: string, reference: string, fingerprint: string | null): ConfigEntry =>
    ({ key, kind: 'secret', provider: fingerprint === null ? 'vault' : 'store', reference, fingerprint, source: 'cli' }) as ConfigEntry;
  const status = (a: ConfigEntry, b: ConfigEntry) => parityReport([a], [b])[0]!.status;

  it('lists keys and conflicts in order, whatever order they were given in', () => {
    const v = configView({
      yamlConfig: { Z: 'z', B: 'b', A: 'a' },
      yamlSecrets: { Y: { provider: 'env', name: 'SLIPWAY_SECRET_STAGING_Y' } },
      overrides: {},
      storeSecrets: { Z: { version: 1, fingerprint: 'fz' }, B: { version: 2, fingerprint: 'fb' } },
    });
    expect(v.entries.map((e) => e.key)).toEqual(['A', 'B', 'Y', 'Z']);
    expect(v.conflicts).toEqual(['B', 'Z']);
    expect(v.entries.find((e) => e.key === 'Y')).toMatchObject({ kind: 'secret', reference: 'env SLIPWAY_SECRET_STAGING_Y', fingerprint: null, source: 'slipway.yaml' });
  });

  it('describes every kind of secret reference', () => {
    expect(describeExternalSecret({ provider: 'file', path: '/run/db' })).toBe('file /run/db');
    expect(describeExternalSecret({ provider: 'env', name: 'SLIPWAY_SECRET_X' })).toBe('env SLIPWAY_SECRET_X');
    expect(describePinnedSecret({ provider: 'env', name: 'SLIPWAY_SECRET_X', fingerprint: 'f' })).toBe('env SLIPWAY_SECRET_X');
    expect(describePinnedSecret({ provider: 'file', path: '/run/db', fingerprint: 'f' })).toBe('file /run/db');
  });

  it('secrets are the same by fingerprint when both are known, else only by the very same reference', () => {
    expect(status(secret('S', 'store v1', 'f1'), secret('S', 'store v2', 'f1'))).toBe('same');
    expect(status(secret('S', 'store v1', 'f1'), secret('S', 'store v1', 'f2'))).toBe('differs');
    expect(status(secret('S', 'vault a#k', null), secret('S', 'vault a#k', null))).toBe('same');
    expect(status(secret('S', 'vault a#k', null), secret('S', 'vault b#k', null))).toBe('differs');
    expect(status(secret('S', 'vault a#k', 'f1'), secret('S', 'vault a#k', null))).toBe('differs');
    expect(status(secret('S', 'vault a#k', null), secret('S', 'vault a#k', 'f1'))).toBe('differs');
  });

  it('a plain value and a secret of the same name are never the same, even with equal text', () => {
    const row = parityReport([plain('K', 'secret (store v1)')], [secret('K', 'store v1', 'f')])[0]!;
    expect(row).toEqual({ key: 'K', status: 'differs', kind: 'mixed', left: 'secret (store v1)', right: 'secret (store v1)' });
    expect(status(secret('K', 'x', null), plain('K', 'x'))).toBe('differs');
    expect(status(plain('K', 'x'), plain('K', 'x'))).toBe('same');
    expect(status(plain('K', 'x'), plain('K', 'y'))).toBe('differs');
    expect(parityReport([plain('b', '1'), plain('a', '1')], [plain('c', '1')]).map((r) => `${r.key} ${r.status}`)).toEqual(['a only-left', 'b only-left', 'c only-right']);
  });
});
