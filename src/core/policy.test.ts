import { describe, expect, it } from 'vitest';
import { DEFAULT_ANALYSIS } from './analysis/index.ts';
import { addressKind } from './ip-address.ts';
import { checkEnvironment, checkOutboundUrl, EMPTY_POLICY, globMatches, listenMatches, ownEnvPrefix, urlMatches, type EnvironmentPolicy, type HostPolicy, type PolicyCheck } from './policy.ts';
import type { EnvironmentSpec, ExternalSecretSpec, WebhookSpec } from './service-config.ts';

const base: EnvironmentSpec = {
  name: 'staging', runtime: 'process', resources: null, instances: 1, listen: { host: '127.0.0.1', port: 8080 },
  strategy: { type: 'rolling', batch: { count: 1 }, maxUnavailable: { count: 0 } },
  config: {}, secrets: {}, analysis: { spec: DEFAULT_ANALYSIS, deadlineMs: null, prometheus: [] }, watchMs: 0,
};

const hook = (url: string): WebhookSpec => ({ url, events: [], format: 'json', timeoutMs: 1000, attempts: 1 });
const withSecret = (spec: ExternalSecretSpec): EnvironmentSpec => ({ ...base, secrets: { DB_PASSWORD: spec } });
const withHook = (url: string): EnvironmentSpec => ({ ...base, notifications: [hook(url)] });
const level = (p: Partial<EnvironmentPolicy>): EnvironmentPolicy => ({
  listen: null, hosts: null, secrets: { env: [], vault: [], file: [] }, outbound: { allow: [], public: null }, ...p,
});
const policyOf = (envs: Record<string, Partial<EnvironmentPolicy>>): HostPolicy => ({
  environments: Object.fromEntries(Object.entries(envs).map(([k, v]) => [k, level(v)])),
});
const check = (environment: EnvironmentSpec, more: Partial<PolicyCheck> = {}) =>
  checkEnvironment({ policy: EMPTY_POLICY, env: 'staging', environment, ...more }).map((v) => `${v.key} ${v.rule}`);

describe('the default policy (nothing set by the admin)', () => {
  it.each([
    ['an env variable in its own scope', withSecret({ provider: 'env', name: 'SLIPWAY_SECRET_STAGING_DB' }), []],
    ["production's env variable", withSecret({ provider: 'env', name: 'SLIPWAY_SECRET_PRODUCTION_DB' }), ['environments.staging.secrets.DB_PASSWORD.env secrets.env']],
    ['a Vault path under its name', withSecret({ provider: 'vault', mount: 'secret', path: 'staging/db', key: 'pw' }), []],
    ["production's Vault path", withSecret({ provider: 'vault', mount: 'secret', path: 'production/db', key: 'pw' }), ['environments.staging.secrets.DB_PASSWORD.vault.path secrets.vault']],
    ['its own path in another mount', withSecret({ provider: 'vault', mount: 'kv-prod', path: 'staging/db', key: 'pw' }), ['environments.staging.secrets.DB_PASSWORD.vault.path secrets.vault']],
    ['a path that climbs out of its scope', withSecret({ provider: 'vault', mount: 'secret', path: 'staging/../production/db', key: 'pw' }), ['environments.staging.secrets.DB_PASSWORD.vault.path secrets.vault']],
    ['any file', withSecret({ provider: 'file', path: '/etc/shadow' }), ['environments.staging.secrets.DB_PASSWORD.file secrets.file']],
    ['a public webhook', withHook('https://93.184.216.34/hook'), []],
    ['a loopback webhook', withHook('http://127.0.0.1:4000/hook'), ['environments.staging.notifications[0].url outbound']],
    ['localhost by name', withHook('http://localhost:4000/'), ['environments.staging.notifications[0].url outbound']],
    ['a private address', withHook('http://10.1.2.3/'), ['environments.staging.notifications[0].url outbound']],
    ['cloud metadata', withHook('http://169.254.169.254/latest/meta-data/'), ['environments.staging.notifications[0].url outbound']],
    ['the unspecified address', withHook('http://0.0.0.0:4000/'), ['environments.staging.notifications[0].url outbound']],
    ['loopback written as a decimal number', withHook('http://2130706433:4000/'), ['environments.staging.notifications[0].url outbound']],
    ['IPv6 loopback', withHook('http://[::1]:4000/'), ['environments.staging.notifications[0].url outbound']],
    ['IPv4-mapped loopback', withHook('http://[::ffff:127.0.0.1]:4000/'), ['environments.staging.notifications[0].url outbound']],
  ] as const)('%s → %j', (_what, environment, expected) => {
    expect(check(environment)).toEqual(expected);
  });

  it('refuses a webhook whose name resolved to a loopback address, saying so', () => {
    const v = checkEnvironment({ policy: EMPTY_POLICY, env: 'staging', environment: withHook('http://hooks.internal/x'), resolved: { 'hooks.internal': ['127.0.0.1'] } });
    expect(v.map((x) => x.rule)).toEqual(['outbound']);
    expect(v[0]!.message).toMatch(/hooks\.internal resolves to 127\.0\.0\.1/);
  });

  it('checks Prometheus at every level: the environment, and each canary analysis step', () => {
    const prom = { name: 'p', query: 'up', url: 'http://127.0.0.1:9090', max: 1 };
    const environment: EnvironmentSpec = {
      ...base,
      analysis: { ...base.analysis, prometheus: [prom] },
      strategy: { type: 'canary', canaryInstances: null, sticky: null, steps: [{ weight: 10 }, { analysis: { ...base.analysis, prometheus: [prom] } }] },
    };
    expect(check(environment)).toEqual([
      'environments.staging.analysis.prometheus[0].url outbound',
      'environments.staging.strategy.steps[1].analysis.prometheus[0].url outbound',
    ]);
  });

  it("checks a webhook's url_from reference as a secret, and the URL read from it as a URL", () => {
    const environment: EnvironmentSpec = { ...base, notifications: [{ urlFrom: { provider: 'env', name: 'SLIPWAY_SECRET_PRODUCTION_HOOK' }, events: [], format: 'json', timeoutMs: 1, attempts: 1 }] };
    expect(check(environment, { readUrls: [{ key: 'environments.staging.notifications[0].url_from', url: 'http://127.0.0.1:1/' }] })).toEqual([
      'environments.staging.notifications[0].url_from.env secrets.env',
      'environments.staging.notifications[0].url_from outbound',
    ]);
  });

  it("keeps api's variables apart from api-v2's, though api-v2's name starts with api's", () => {
    const environment = { ...withSecret({ provider: 'env', name: 'SLIPWAY_SECRET_API_V2_DB' }), name: 'api' };
    expect(checkEnvironment({ policy: EMPTY_POLICY, env: 'api', environment, otherEnvironments: ['api-v2'] }).map((v) => v.rule)).toEqual(['secrets.env']);
    expect(checkEnvironment({ policy: EMPTY_POLICY, env: 'api', environment: { ...environment, secrets: { DB: { provider: 'env', name: 'SLIPWAY_SECRET_API_DB' } } }, otherEnvironments: ['api-v2'] })).toEqual([]);
  });

  it('takes any listen address', () => {
    expect(check({ ...base, listen: { host: '0.0.0.0', port: 80 } })).toEqual([]);
  });
});

describe("the server's own listeners", () => {
  const serverListeners = [
    { name: "the slipway server's own API address", address: { host: '127.0.0.1', port: 7000 } },
    { name: "the router's admin API address", address: { host: '0.0.0.0', port: 7001 } },
  ];
  const everythingAllowed = policyOf({ '*': { outbound: { allow: ['*://*:*/**'], public: null } } });

  it.each([
    ['http://127.0.0.1:7000/api/deploy', 'outbound.server'],
    ['http://localhost:7000/', 'outbound.server'],
    ['http://127.0.0.1:7001/shutdown', 'outbound.server'],
    ['http://192.168.1.5:7001/routes', 'outbound.server'],
    ['http://127.0.0.1:7002/', null],
  ])('%s → %s even when the policy allows every URL', (url, rule) => {
    const v = checkEnvironment({ policy: everythingAllowed, env: 'staging', environment: withHook(url), serverListeners, localAddresses: ['192.168.1.5'] });
    expect(v[0]?.rule ?? null).toBe(rule);
  });
});

describe("the admin's policy", () => {
  it('allows a loopback webhook it names, for that environment only', () => {
    const policy = policyOf({ staging: { outbound: { allow: ['http://127.0.0.1:4000'], public: null } } });
    expect(checkEnvironment({ policy, env: 'staging', environment: withHook('http://127.0.0.1:4000/hook') })).toEqual([]);
    expect(checkEnvironment({ policy, env: 'production', environment: { ...withHook('http://127.0.0.1:4000/hook'), name: 'production' } })).toHaveLength(1);
    expect(checkEnvironment({ policy, env: 'staging', environment: withHook('http://127.0.0.1:4001/hook') })).toHaveLength(1);
  });

  it("adds the '*' level to every environment's own", () => {
    const policy = policyOf({ '*': { secrets: { env: ['SLIPWAY_SECRET_SHARED_*'], vault: ['shared/**'], file: [] } }, staging: { secrets: { env: [], vault: [], file: ['/run/secrets/staging/*'] } } });
    expect(check(withSecret({ provider: 'env', name: 'SLIPWAY_SECRET_SHARED_KEY' }), { policy })).toEqual([]);
    expect(check(withSecret({ provider: 'vault', mount: 'secret', path: 'shared/a/b', key: 'k' }), { policy })).toEqual([]);
    expect(check(withSecret({ provider: 'file', path: '/run/secrets/staging/db' }), { policy })).toEqual([]);
    expect(check(withSecret({ provider: 'file', path: '/run/secrets/staging/sub/db' }), { policy })).toHaveLength(1);
    expect(check(withSecret({ provider: 'file', path: '/run/secrets/staging/../../etc/shadow' }), { policy })).toHaveLength(1);
  });

  it('names another Vault mount as mount:path', () => {
    const policy = policyOf({ staging: { secrets: { env: [], vault: ['kv:staging/**'], file: [] } } });
    expect(check(withSecret({ provider: 'vault', mount: 'kv', path: 'staging/db', key: 'k' }), { policy })).toEqual([]);
    expect(check(withSecret({ provider: 'vault', mount: 'kv', path: 'production/db', key: 'k' }), { policy })).toHaveLength(1);
  });

  it('with public: false, only the URLs it lists', () => {
    const policy = policyOf({ staging: { outbound: { allow: ['https://hooks.example.com/**'], public: false } } });
    expect(check(withHook('https://hooks.example.com/services/x'), { policy })).toEqual([]);
    expect(check(withHook('https://93.184.216.34/'), { policy })).toEqual(['environments.staging.notifications[0].url outbound']);
  });

  it('limits listen addresses and host names when it lists them', () => {
    const policy = policyOf({ staging: { listen: ['127.0.0.1:8000-8099'], hosts: ['*.staging.example.com'] } });
    expect(check({ ...base, listen: { host: '127.0.0.1', port: 8080 } }, { policy })).toEqual([]);
    expect(check({ ...base, listen: { host: '0.0.0.0', port: 8080 } }, { policy })).toEqual(['environments.staging.listen listen']);
    expect(check({ ...base, strategy: { type: 'blue-green', previewListen: { host: '127.0.0.1', port: 9000 }, autoPromote: true, scaleDownDelayMs: 0 } }, { policy }))
      .toEqual(['environments.staging.strategy.preview_listen listen']);
    const k8s = { context: null, namespace: 'n', image: 'i', containerPort: 80, traffic: 'gateway' as const, gateway: null, hostnames: ['a.staging.example.com', 'shop.example.com'], historyLimit: 1 };
    expect(check({ ...base, kubernetes: k8s }, { policy })).toEqual(['environments.staging.kubernetes.hostnames[1] hosts']);
  });
});

describe('the pieces', () => {
  it.each([
    ['127.0.0.1', 'loopback'], ['10.0.0.1', 'private'], ['172.20.0.1', 'private'], ['192.168.0.1', 'private'], ['100.64.0.1', 'private'],
    ['169.254.169.254', 'link-local'], ['0.0.0.0', 'unspecified'], ['8.8.8.8', 'public'], ['::1', 'loopback'], ['::', 'unspecified'],
    ['fd00::1', 'private'], ['fe80::1', 'link-local'], ['::ffff:7f00:1', 'loopback'], ['2001:db8::1', 'public'], ['example.com', null],
  ])('%s is %s', (ip, kind) => expect(addressKind(ip)).toBe(kind));

  it.each([
    ['http://127.0.0.1:9090', 'http://127.0.0.1:9090/api/v1/query', true],
    ['http://127.0.0.1:9090/', 'http://127.0.0.1:9090/api', false],
    ['https://hooks.example.com/**', 'https://hooks.example.com/a/b', true],
    ['https://hooks.example.com/**', 'https://hooks.example.com:8443/a', false],
    ['https://*.example.com', 'https://a.example.com/x', true],
    ['https://*.example.com', 'https://a.b.example.com/x', false],
    ['http://127.0.0.1:*', 'http://127.0.0.1:1234/', true],
    ['http://[::1]:80', 'http://[0:0::1]/', true],
  ])('url pattern %s on %s: %s', (pattern, url, expected) => expect(urlMatches(pattern, url)).toBe(expected));

  it('matches listen patterns, globs and scope prefixes', () => {
    expect(listenMatches('*:8080', { host: '0.0.0.0', port: 8080 })).toBe(true);
    expect(listenMatches('[::]:*', { host: '::', port: 1 })).toBe(true);
    expect(listenMatches('127.0.0.1:80-90', { host: '127.0.0.1', port: 91 })).toBe(false);
    expect(globMatches('staging/*', 'staging/a/b', '/')).toBe(false);
    expect(globMatches('staging/**', 'staging/a/b', '/')).toBe(true);
    expect(ownEnvPrefix('api-v2')).toBe('SLIPWAY_SECRET_API_V2_');
  });
});

describe('a URL read at call time', () => {
  it('is held to the same rules as one written in slipway.yaml', () => {
    const key = 'environments.staging.notifications[0].url_from';
    expect(checkOutboundUrl({ policy: EMPTY_POLICY, env: 'staging', key, url: 'http://127.0.0.1:9/' }).map((v) => v.rule)).toEqual(['outbound']);
    expect(checkOutboundUrl({ policy: EMPTY_POLICY, env: 'staging', key, url: 'https://93.184.216.34/' })).toEqual([]);
  });
});
