import { describe, expect, it } from 'vitest';
import { parityReport } from './config-parity.ts';
import { configView } from './config-view.ts';

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
