import { describe, expect, it } from 'vitest';
import { parsePolicyText } from './policy-file.ts';

describe('parsePolicyText', () => {
  it('reads every level and fills what is not said', () => {
    const p = parsePolicyText([
      'environments:',
      "  '*':",
      "    outbound: { allow: ['https://hooks.example.com/**'] }",
      '  staging:',
      "    listen: ['127.0.0.1:8000-8099']",
      "    secrets: { vault: ['shared/**'], file: ['/run/secrets/staging/*'] }",
      '    outbound: { public: false }',
    ].join('\n'), 'policy.yaml');
    expect(p.environments['*']).toEqual({ listen: null, hosts: null, secrets: { env: [], vault: [], file: [] }, outbound: { allow: ['https://hooks.example.com/**'], public: null } });
    expect(p.environments.staging).toEqual({ listen: ['127.0.0.1:8000-8099'], hosts: null, secrets: { env: [], vault: ['shared/**'], file: ['/run/secrets/staging/*'] }, outbound: { allow: [], public: false } });
  });

  it('takes a Vault mount with a slash in mount:path', () => {
    expect(parsePolicyText("environments: { production: { secrets: { vault: ['kv/apps:production/**'] } } }", 'p.yaml').environments.production?.secrets.vault).toEqual(['kv/apps:production/**']);
  });

  it('takes an empty file as the empty policy', () => {
    expect(parsePolicyText('', 'p.yaml')).toEqual({ environments: {} });
  });

  it('names each problem by file:line:col and key, and refuses unknown keys', () => {
    const text = ['environments:', '  staging:', "    outbound: { allow: ['ftp://x'] }", '    secrets: { files: [] }', '  Prod: {}'].join('\n');
    expect(() => parsePolicyText(text, 'p.yaml')).toThrow(/p\.yaml:3:\d+ environments\.staging\.outbound\.allow\[0\]: expected an http\(s\) URL pattern/);
    expect(() => parsePolicyText(text, 'p.yaml')).toThrow(/p\.yaml:4:\d+ environments\.staging\.secrets\.files: .*file/);
    expect(() => parsePolicyText(text, 'p.yaml')).toThrow(/environments\.Prod.*an environment name/);
  });

  it('refuses a file path that climbs with ..', () => {
    expect(() => parsePolicyText("environments: { staging: { secrets: { file: ['/run/../etc/shadow'] } } }", 'p.yaml')).toThrow(/absolute path/);
  });

  it('refuses text that is not YAML', () => {
    expect(() => parsePolicyText('environments: [', 'p.yaml')).toThrow(/E?invalid YAML|p\.yaml:1/);
  });
});
