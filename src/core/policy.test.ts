import { describe, expect, it } from 'vitest';
import { DEFAULT_ANALYSIS } from './analysis/index.ts';
import { addressKind } from './ip-address.ts';
import { checkEnvironment, checkOutboundUrl, describeViolations, effectivePolicy, EMPTY_POLICY, globMatches, listenMatches, ownEnvPrefix, urlMatches, type EnvironmentPolicy, type HostPolicy, type PolicyCheck, type ServerAddress } from './policy.ts';
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

describe('tls: what the server reads and calls for a certificate', () => {
  const files = (certFile: string, key: ExternalSecretSpec): EnvironmentSpec => ({ ...base, tls: { redirectHttp: false, source: { kind: 'files', certificates: [{ certFile, key }] } } });
  const acme = (directoryUrl: string, caFile?: string): EnvironmentSpec => ({
    ...base, tls: { redirectHttp: false, source: { kind: 'acme', directoryUrl, email: 'ops@example.com', challenge: 'http-01', renewBeforeMs: 30 * 86_400_000, ...(caFile !== undefined ? { caFile } : {}) } },
  });

  it('refuses a certificate file and a key beyond the policy, like any secret, and takes them once the admin lists them', () => {
    // Another service's key, or any file the server can read, is not a deployer's to serve.
    expect(check(files('/etc/ssl/shop.crt', { provider: 'file', path: '/etc/ssl/private/shop.key' }))).toEqual([
      'environments.staging.tls.certificates[0].key.file secrets.file',
      'environments.staging.tls.certificates[0].cert_file secrets.file',
    ]);
    expect(check(files('/etc/ssl/shop.crt', { provider: 'env', name: 'SLIPWAY_SECRET_PRODUCTION_TLS_KEY' }))).toEqual([
      'environments.staging.tls.certificates[0].key.env secrets.env',
      'environments.staging.tls.certificates[0].cert_file secrets.file',
    ]);
    const policy = policyOf({ staging: { secrets: { env: [], vault: [], file: ['/etc/ssl/**'] } } });
    expect(check(files('/etc/ssl/shop.crt', { provider: 'file', path: '/etc/ssl/private/shop.key' }), { policy })).toEqual([]);
    expect(check(files('/etc/ssl/../shadow', { provider: 'file', path: '/etc/ssl/private/shop.key' }), { policy })).toEqual(['environments.staging.tls.certificates[0].cert_file secrets.file']);
  });

  it('checks an ACME directory as a URL the server calls, and its CA file as a file it reads', () => {
    expect(check(acme('https://127.0.0.1:14000/dir', '/tmp/pebble/ca.pem'))).toEqual([
      'environments.staging.tls.acme.ca_file secrets.file',
      'environments.staging.tls.acme.directory outbound',
    ]);
    const policy = policyOf({ staging: { secrets: { env: [], vault: [], file: ['/tmp/pebble/*'] }, outbound: { allow: ['https://127.0.0.1:14000/**'], public: null } } });
    expect(check(acme('https://127.0.0.1:14000/dir', '/tmp/pebble/ca.pem'), { policy })).toEqual([]);
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
    expect(check({ ...base, listen: { host: '127.0.0.1', port: 8080 }, tls: { httpListen: { host: '0.0.0.0', port: 80 }, redirectHttp: true, source: { kind: 'files', certificates: [] } } }, { policy }))
      .toEqual(['environments.staging.tls.http_listen listen']);
    const k8s = { context: null, namespace: 'n', image: 'i', containerPort: 80, traffic: 'gateway' as const, gateway: null, hostnames: ['a.staging.example.com', 'shop.example.com'], historyLimit: 1 };
    expect(check({ ...base, kubernetes: k8s }, { policy })).toEqual(['environments.staging.kubernetes.hostnames[1] hosts']);
  });

  it('holds the host names of a listener shared by host (hosts:) to the same rule, a wildcard as written', () => {
    const policy = policyOf({ staging: { hosts: ['*.staging.example.com'] } });
    expect(check({ ...base, hosts: ['a.staging.example.com', '*.staging.example.com'] }, { policy })).toEqual([]);
    expect(check({ ...base, hosts: ['a.staging.example.com', 'shop.example.com', '*.example.com'] }, { policy }))
      .toEqual(['environments.staging.hosts[1] hosts', 'environments.staging.hosts[2] hosts']);
    // No hosts rule in the policy: any host name, as before.
    expect(check({ ...base, hosts: ['shop.example.com'] }, { policy: policyOf({}) })).toEqual([]);
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

describe('what a refusal tells the user', () => {
  const full = (environment: EnvironmentSpec, more: Partial<PolicyCheck> = {}) =>
    checkEnvironment({ policy: EMPTY_POLICY, env: 'staging', environment, ...more }).map((v) => [v.value, v.message]);

  it('names the scope a secret should have come from', () => {
    expect(full(withSecret({ provider: 'env', name: 'SLIPWAY_SECRET_PRODUCTION_DB' }))).toEqual([['SLIPWAY_SECRET_PRODUCTION_DB',
      "SLIPWAY_SECRET_PRODUCTION_DB is outside staging's own scope: staging reads only server variables named SLIPWAY_SECRET_STAGING_* unless the policy allows more"]]);
    expect(full(withSecret({ provider: 'vault', mount: 'secret', path: 'production/db', key: 'pw' }))).toEqual([['secret:production/db',
      "Vault path production/db is outside staging's own scope: staging reads only staging/... in mount secret unless the policy allows more"]]);
    expect(full(withSecret({ provider: 'vault', mount: 'kv', path: 'staging/db', key: 'pw' }))).toEqual([['kv:staging/db',
      "Vault path staging/db in mount kv is outside staging's own scope: staging reads only staging/... in mount secret unless the policy allows more"]]);
    expect(full(withSecret({ provider: 'vault', mount: 'secret', path: 'staging/./db', key: 'pw' }))).toEqual([['secret:staging/./db',
      'Vault path secret:staging/./db has a . or .. part; write the path itself']]);
    expect(full(withSecret({ provider: 'vault', mount: '..', path: 'staging/db', key: 'pw' }))).toHaveLength(1);
    expect(full(withSecret({ provider: 'file', path: '/etc/shadow' }))).toEqual([['/etc/shadow',
      'the file /etc/shadow is not one the policy lets staging read; files are read only when the admin lists them']]);
  });

  it('says what a URL is, hides its credentials, and lists what the policy allows', () => {
    expect(full(withHook('http://user:pw@127.0.0.1:4000/hook'))).toEqual([['http://***@127.0.0.1:4000/hook',
      'http://***@127.0.0.1:4000/hook is a loopback address (this machine), which the server calls only when the policy allows it (outbound.allow: none)']]);
    expect(full(withHook('http://hooks.internal/x'), { resolved: { 'hooks.internal': ['10.0.0.9'] } })).toEqual([['http://hooks.internal/x',
      'http://hooks.internal/x is a private network address (hooks.internal resolves to 10.0.0.9), which the server calls only when the policy allows it (outbound.allow: none)']]);
    expect(full(withHook('http://app.localhost:4000/'))[0]![1]).toBe(
      'http://app.localhost:4000/ is a loopback address (this machine), which the server calls only when the policy allows it (outbound.allow: none)');
    expect(full(withHook('ftp://example.com/x'))).toEqual([['ftp://example.com/x', 'ftp://example.com/x is not an http:// or https:// URL']]);
    expect(full(withHook('not a url'))).toEqual([['not a url', 'not a url is not an http:// or https:// URL']]);
    const words = ['http://169.254.169.254/', 'http://0.0.0.0/', 'http://224.0.0.1/', 'http://240.0.0.1/'].map((u) => full(withHook(u))[0]![1]);
    expect(words).toEqual([
      'http://169.254.169.254/ is a link-local address (cloud metadata lives there), which the server calls only when the policy allows it (outbound.allow: none)',
      'http://0.0.0.0/ is the unspecified address (this machine), which the server calls only when the policy allows it (outbound.allow: none)',
      'http://224.0.0.1/ is a multicast address, which the server calls only when the policy allows it (outbound.allow: none)',
      'http://240.0.0.1/ is a reserved address, which the server calls only when the policy allows it (outbound.allow: none)',
    ]);
    const closed = policyOf({ staging: { outbound: { allow: ['https://a.example.com/**', 'https://b.example.com/**'], public: false } } });
    expect(full(withHook('https://93.184.216.34/'), { policy: closed })).toEqual([['https://93.184.216.34/',
      'https://93.184.216.34/ is not one the policy allows staging to call (outbound.allow: https://a.example.com/**, https://b.example.com/**; public: false)']]);
    expect(full(withHook('https://93.184.216.34/'), { policy: policyOf({ staging: { outbound: { allow: [], public: false } } }) })[0]![1])
      .toBe('https://93.184.216.34/ is not one the policy allows staging to call (outbound.allow: none; public: false)');
  });

  it("names the server's listener a URL would reach", () => {
    const serverListeners = [{ name: "the slipway server's own API address", address: { host: '127.0.0.1', port: 7000 } }];
    expect(full(withHook('http://127.0.0.1:7000/api'), { serverListeners })).toEqual([['http://127.0.0.1:7000/api',
      "http://127.0.0.1:7000/api is the slipway server's own API address; no slipway.yaml may make the server call its own API or the router's admin API"]]);
  });

  it('shows listen addresses as written, IPv6 in brackets, and the patterns allowed', () => {
    const policy = policyOf({ staging: { listen: ['127.0.0.1:8000-8099', '[::1]:*'], hosts: [] } });
    expect(full({ ...base, listen: { host: '::', port: 8080 } }, { policy })).toEqual([['[::]:8080', 'listen address [::]:8080 is not one the policy allows (127.0.0.1:8000-8099, [::1]:*)']]);
    expect(full({ ...base, listen: { host: '0.0.0.0', port: 8080 } }, { policy: policyOf({ staging: { listen: [] } }) }))
      .toEqual([['0.0.0.0:8080', 'listen address 0.0.0.0:8080 is not one the policy allows (none)']]);
    const k8s = { context: null, namespace: 'n', image: 'i', containerPort: 80, traffic: 'gateway' as const, gateway: null, hostnames: ['shop.example.com'], historyLimit: 1 };
    expect(full({ ...base, kubernetes: k8s }, { policy })).toEqual([['shop.example.com', 'host name shop.example.com is not one the policy allows staging (none)']]);
    const named = policyOf({ staging: { hosts: ['a.example.com', 'b.example.com'] } });
    expect(full({ ...base, kubernetes: { ...k8s, hostnames: ['A.Example.com', 'c.example.com'] } }, { policy: named }))
      .toEqual([['c.example.com', 'host name c.example.com is not one the policy allows staging (a.example.com, b.example.com)']]);
  });

  it('puts every violation in one message, key by key', () => {
    const violations = checkEnvironment({ policy: EMPTY_POLICY, env: 'staging', environment: { ...withHook('http://10.0.0.1/'), secrets: { A: { provider: 'file', path: '/a' } } } });
    expect(describeViolations('staging', violations)).toBe([
      "slipway.yaml asks for more than the admin's policy allows staging:",
      '  environments.staging.secrets.A.file: the file /a is not one the policy lets staging read; files are read only when the admin lists them',
      '  environments.staging.notifications[0].url: http://10.0.0.1/ is a private network address, which the server calls only when the policy allows it (outbound.allow: none)',
      'Change slipway.yaml, or ask an admin to widen the policy (slipway policy show). Nothing was changed',
    ].join('\n'));
  });
});

describe('the policy levels and patterns at their edges', () => {
  it("an environment's own public: says more than the '*' level's; nothing said is public: true", () => {
    const all = (pub: boolean | null, own: boolean | null) => effectivePolicy(policyOf({ '*': { outbound: { allow: ['https://a/**'], public: pub } }, staging: { outbound: { allow: ['https://b/**'], public: own } } }), 'staging').outbound;
    expect(all(false, true)).toEqual({ allow: ['https://a/**', 'https://b/**'], public: true });
    expect(all(false, null).public).toBe(false);
    expect(all(null, null).public).toBe(true);
    expect(effectivePolicy(EMPTY_POLICY, 'staging')).toEqual({ listen: null, hosts: null, secrets: { env: [], vault: [], file: [] }, outbound: { allow: [], public: true } });
    expect(effectivePolicy(policyOf({ '*': { listen: ['*:80'] } }), 'staging').listen).toEqual(['*:80']);
    expect(effectivePolicy(policyOf({ staging: { hosts: ['x'] } }), 'staging').hosts).toEqual(['x']);
  });

  it.each([
    ['a?c', 'abc', null, true], ['a?c', 'ac', null, false], ['a*', 'a.b/c', null, true], ['*.example.com', 'a.example.com', '.', true],
    ['*.example.com', 'a.b.example.com', '.', false], ['a.c', 'abc', null, false], ['a+b', 'a+b', null, true], ['x', 'xx', null, false], ['x', 'ax', null, false],
  ] as const)('glob %s on %s (separator %s): %s', (pattern, text, separator, expected) => {
    expect(globMatches(pattern, text, separator)).toBe(expected);
  });

  it.each([
    [' 127.0.0.1:8080 ', { host: '127.0.0.1', port: 8080 }, true],
    ['a:127.0.0.1:8080', { host: '127.0.0.1', port: 8080 }, false],
    ['127.0.0.1', { host: '127.0.0.1', port: 8080 }, false],
    ['127.0.0.1:80-90', { host: '127.0.0.1', port: 80 }, true],
    ['127.0.0.1:80-90', { host: '127.0.0.1', port: 79 }, false],
    ['127.0.0.1:80-90', { host: '127.0.0.1', port: 90 }, true],
    ['[::1]:80', { host: '0:0::1', port: 80 }, true],
    ['10.0.0.1:80', { host: '127.0.0.1', port: 80 }, false],
  ] as const)('listen pattern %j on %j: %s', (pattern, a, expected) => {
    expect(listenMatches(pattern, a)).toBe(expected);
  });

  it.each([
    [' https://a.example.com/** ', 'https://a.example.com/x', true],
    ['https://a.example.com/**', 'http://a.example.com/x', false],
    ['*://a.example.com/**', 'http://a.example.com/x', true],
    ['x https://a.example.com', 'https://a.example.com/', false],
    ['https://a.example.com:443x', 'https://a.example.com/', false],
    ['https://a.example.com', 'not a url', false],
    ['https://10.0.0.1/**', 'https://10.0.0.2/', false],
    ['https://[::1]/**', 'https://[::1]/a', true],
    ['http://[::1]:80', 'http://[::2]/', false],
    ['https://a.example.com:443/**', 'https://a.example.com/a', true],
    ['https://A.Example.com/**', 'https://a.example.com/a', true],
  ] as const)('url pattern %j on %s: %s', (pattern, url, expected) => {
    expect(urlMatches(pattern, url)).toBe(expected);
  });

  it('a Vault pattern without a mount means the mount secret; with one, that mount only', () => {
    const policy = (vault: string[]) => policyOf({ staging: { secrets: { env: [], vault, file: [] } } });
    const at = (mount: string, path: string) => check(withSecret({ provider: 'vault', mount, path, key: 'k' }), { policy: policy(['shared/*', 'kv:team/*']) });
    expect(at('secret', 'shared/db')).toEqual([]);
    expect(at('kv', 'shared/db')).toHaveLength(1);
    expect(at('kv', 'team/db')).toEqual([]);
    expect(at('secret', 'team/db')).toHaveLength(1);
    expect(check(withSecret({ provider: 'vault', mount: 'secret', path: 'staging', key: 'k' }))).toHaveLength(1);
  });

  it("keeps a shorter environment's scope from taking in a longer one's, whichever is checked", () => {
    const env = (name: string, others: string[]) => checkEnvironment({ policy: EMPTY_POLICY, env: 'api', environment: withSecret({ provider: 'env', name }), otherEnvironments: others });
    expect(env('SLIPWAY_SECRET_API_V2_DB', ['api', 'api-v2'])).toHaveLength(1);
    expect(env('SLIPWAY_SECRET_API_DB', ['api', 'api-v2'])).toEqual([]);
    expect(env('SLIPWAY_SECRET_API_V2_DB', ['api', 'web'])).toEqual([]);
    expect(env('SLIPWAY_SECRET_API_V2_DB', ['api'])).toEqual([]);
  });

  it("reaches the server's listener on every address only from this machine's addresses", () => {
    const onAll = [{ name: 'router admin', address: { host: '', port: 7001 } }];
    const onOne = [{ name: 'api', address: { host: '192.168.1.5', port: 7000 } }];
    const rule = (url: string, serverListeners: ServerAddress[], resolved: Record<string, string[]> = {}) =>
      checkEnvironment({ policy: policyOf({ '*': { outbound: { allow: ['*://*:*/**'], public: null } } }), env: 'staging', environment: withHook(url), serverListeners, localAddresses: ['192.168.1.5'], resolved })[0]?.rule ?? null;
    expect(rule('http://192.168.1.5:7001/', onAll)).toBe('outbound.server');
    expect(rule('http://[::]:7001/', onAll)).toBe('outbound.server');
    expect(rule('http://10.9.9.9:7001/', onAll)).toBeNull();
    expect(rule('http://192.168.1.5:7000/', onOne)).toBe('outbound.server');
    expect(rule('http://me.lan:7000/', onOne, { 'me.lan': ['192.168.1.5'] })).toBe('outbound.server');
    expect(rule('http://127.0.0.1:7000/', onOne)).toBeNull();
    expect(rule('http://192.168.1.6:7000/', onOne)).toBeNull();
  });
});
