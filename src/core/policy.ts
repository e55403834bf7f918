// The admin's host policy: what an environment's slipway.yaml may ask of the host
// the server runs on (listen addresses and host names, secret sources and paths,
// URLs the server calls), and the check of one environment's settings against it.
// Pure: host names are resolved by the caller and handed in.
//
// Secure by default: with nothing set, secrets resolve only inside the
// environment's own scope (SLIPWAY_SECRET_<ENV>_*, Vault <env>/** in the default
// mount, no file), and outbound URLs reach only public addresses. The server's own
// API and the router's admin API are refused whatever the policy says.

import { envNameOf } from './env-key.ts';
import { addressKind, canonicalAddress, type AddressKind } from './ip-address.ts';
import type { EnvironmentSpec, ExternalSecretSpec, ListenAddress } from './service-config.ts';

export interface SecretRules {
  /** Server environment variable names (glob, `*` any characters) beyond SLIPWAY_SECRET_<ENV>_*. */
  env: string[];
  /** Vault paths (glob, `*` one segment, `**` any), `mount:path` for a mount other than `secret`, beyond `<env>/**`. */
  vault: string[];
  /** Absolute file paths (glob, `*` one segment, `**` any); no file is readable unless listed. */
  file: string[];
}

export interface OutboundRules {
  /** URL patterns (`https://hooks.example.com/**`, `http://127.0.0.1:9090`) allowed beyond public addresses. */
  allow: string[];
  /** false: only `allow` (public addresses refused too); null: not said here (true unless another level says). */
  public: boolean | null;
}

/** One level of the policy (an environment, or `'*'` for every environment). */
export interface EnvironmentPolicy {
  /** `host:port` patterns (`*`, a port range `8000-8099`); null: any address. */
  listen: string[] | null;
  /** Host names (glob, `*` one label, `**` any); null: any. */
  hosts: string[] | null;
  secrets: SecretRules;
  outbound: OutboundRules;
}

/**
 * Per environment name, with `'*'` for every environment. A later `services:` level
 * (issue 16) keys the same EnvironmentPolicy by service, then environment.
 */
export interface HostPolicy {
  environments: Record<string, EnvironmentPolicy>;
}

export const EVERY_ENVIRONMENT = '*';
export const EMPTY_POLICY: HostPolicy = { environments: {} };
export const DEFAULT_VAULT_MOUNT_NAME = 'secret';

export type PolicyRule = 'listen' | 'hosts' | 'secrets.env' | 'secrets.vault' | 'secrets.file' | 'outbound' | 'outbound.server';

export interface PolicyViolation {
  /** The slipway.yaml key, e.g. environments.staging.secrets.DB_PASSWORD.vault.path. */
  key: string;
  rule: PolicyRule;
  /** What was written there (a reference, an address or a URL; never a secret value). */
  value: string;
  /** Why, and what to do. */
  message: string;
}

export interface ServerAddress {
  name: string;
  address: ListenAddress;
}

export interface PolicyCheck {
  policy: HostPolicy;
  env: string;
  environment: EnvironmentSpec;
  /** The addresses host names in URLs resolved to at check time; a name absent here is checked as written. */
  resolved?: Record<string, string[]>;
  /** The server's own listeners (its API, the router's admin API): never a URL's target. */
  serverListeners?: ServerAddress[];
  /** This machine's interface addresses: a listener on 0.0.0.0 answers on each. */
  localAddresses?: string[];
  /**
   * Other environments' names (the server's and this slipway.yaml's): `api`'s scope
   * SLIPWAY_SECRET_API_ must not take in `api-v2`'s SLIPWAY_SECRET_API_V2_.
   */
  otherEnvironments?: string[];
  /** URLs that are not written in slipway.yaml but read from where it points (a webhook's url_from), by key. */
  readUrls?: { key: string; url: string }[];
}

/** The rules that hold for one environment: its own level and the `'*'` level together. */
export interface EffectivePolicy {
  listen: string[] | null;
  hosts: string[] | null;
  secrets: SecretRules;
  outbound: { allow: string[]; public: boolean };
}

const noRules = (): EnvironmentPolicy => ({ listen: null, hosts: null, secrets: { env: [], vault: [], file: [] }, outbound: { allow: [], public: null } });

const union = (a: string[] | null, b: string[] | null): string[] | null => (a === null && b === null ? null : [...(a ?? []), ...(b ?? [])]);

/**
 * The rules for an environment: those for every environment ('*'), for its name in
 * every service (`production`) and for it alone (`shop/production`), together.
 */
export function effectivePolicy(policy: HostPolicy, env: string): EffectivePolicy {
  const all = policy.environments[EVERY_ENVIRONMENT] ?? noRules();
  const name = envNameOf(env);
  const named = policy.environments[name];
  const keyed = name === env ? undefined : policy.environments[env];
  const own = named && keyed ? joinRules(named, keyed) : (keyed ?? named ?? noRules());
  return {
    listen: union(all.listen, own.listen),
    hosts: union(all.hosts, own.hosts),
    secrets: {
      env: [...all.secrets.env, ...own.secrets.env],
      vault: [...all.secrets.vault, ...own.secrets.vault],
      file: [...all.secrets.file, ...own.secrets.file],
    },
    outbound: { allow: [...all.outbound.allow, ...own.outbound.allow], public: own.outbound.public ?? all.outbound.public ?? true },
  };
}

function joinRules(a: EnvironmentPolicy, b: EnvironmentPolicy): EnvironmentPolicy {
  return {
    listen: union(a.listen, b.listen),
    hosts: union(a.hosts, b.hosts),
    secrets: { env: [...a.secrets.env, ...b.secrets.env], vault: [...a.secrets.vault, ...b.secrets.vault], file: [...a.secrets.file, ...b.secrets.file] },
    outbound: { allow: [...a.outbound.allow, ...b.outbound.allow], public: b.outbound.public ?? a.outbound.public },
  };
}

/** SLIPWAY_SECRET_<ENV>_: the variables an environment reads by default (`api-v2` → SLIPWAY_SECRET_API_V2_). */
/** Of a key, the service is part of it: `shop/production` → SLIPWAY_SECRET_SHOP_PRODUCTION_, not another service's. */
export function ownEnvPrefix(env: string): string {
  return `SLIPWAY_SECRET_${env.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_`;
}

/** `*` matches within one part (between separators), `**` across them; `?` one character. */
export function globMatches(pattern: string, text: string, separator: string | null): boolean {
  const one = separator === null ? '.*' : `[^${separator === '/' ? '/' : '\\.'}]*`;
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (c === '*') re += one;
    else if (c === '?') re += '.';
    else re += c.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(`^${re}$`).test(text);
}

/** Every setting of an environment that reaches beyond it, checked; empty when all is allowed. */
export function checkEnvironment(c: PolicyCheck): PolicyViolation[] {
  const rules = effectivePolicy(c.policy, c.env);
  const at = `environments.${envNameOf(c.env)}`;
  const e = c.environment;
  const out: PolicyViolation[] = [];
  out.push(...checkListen(rules, `${at}.listen`, e.listen));
  if (e.strategy.type === 'blue-green' && e.strategy.previewListen) out.push(...checkListen(rules, `${at}.strategy.preview_listen`, e.strategy.previewListen));
  if (e.tls?.httpListen) out.push(...checkListen(rules, `${at}.tls.http_listen`, e.tls.httpListen));
  // The host names an environment answers for: on a cluster's Gateway, and on a
  // listener shared by host (`hosts:`). A wildcard entry is checked as written: the
  // policy must allow `*.example.com` itself (a pattern `*.example.com` does).
  const named: [string, string][] = [
    ...(e.kubernetes?.hostnames ?? []).map((h, i): [string, string] => [`${at}.kubernetes.hostnames[${i}]`, h]),
    ...(e.hosts ?? []).map((h, i): [string, string] => [`${at}.hosts[${i}]`, h]),
  ];
  for (const [key, h] of named) {
    if (rules.hosts !== null && !rules.hosts.some((p) => globMatches(p.toLowerCase(), h.toLowerCase(), '.'))) {
      out.push({ key, rule: 'hosts', value: h, message: `host name ${h} is not one the policy allows ${c.env} (${rules.hosts.join(', ') || 'none'})` });
    }
  }
  const scope = { env: c.env, others: c.otherEnvironments ?? [] };
  for (const [name, spec] of Object.entries(e.secrets)) out.push(...checkSecret(scope, rules, `${at}.secrets.${name}`, spec));
  // tls: a certificate's key is a secret like any other, and a certificate or CA file
  // is read by the server: only the files the admin lists (as for file secrets).
  const tls = e.tls?.source;
  if (tls?.kind === 'files') {
    tls.certificates.forEach((cert, i) => {
      out.push(...checkSecret(scope, rules, `${at}.tls.certificates[${i}].key`, cert.key));
      out.push(...checkReadableFile(rules, c.env, `${at}.tls.certificates[${i}].cert_file`, cert.certFile));
    });
  }
  if (tls?.kind === 'acme' && tls.caFile !== undefined) out.push(...checkReadableFile(rules, c.env, `${at}.tls.acme.ca_file`, tls.caFile));
  for (const { key, url } of outboundUrlsOf(c.env, e)) out.push(...checkUrl(c, rules, key, url));
  (e.notifications ?? []).forEach((w, i) => {
    if (w.urlFrom) out.push(...checkSecret(scope, rules, `${at}.notifications[${i}].url_from`, w.urlFrom));
  });
  for (const { key, url } of c.readUrls ?? []) out.push(...checkUrl(c, rules, key, url));
  return out;
}

/** One URL the server is about to call for an environment (one read at call time, such as a webhook's url_from). */
export function checkOutboundUrl(c: Omit<PolicyCheck, 'environment' | 'readUrls'> & { key: string; url: string }): PolicyViolation[] {
  return checkUrl(c, effectivePolicy(c.policy, c.env), c.key, c.url);
}

/** The URLs written in an environment's settings that the server calls, by slipway.yaml key. */
export function outboundUrlsOf(env: string, e: EnvironmentSpec): { key: string; url: string }[] {
  const at = `environments.${envNameOf(env)}`;
  const urls: { key: string; url: string }[] = [];
  (e.notifications ?? []).forEach((w, i) => {
    if (w.url !== undefined) urls.push({ key: `${at}.notifications[${i}].url`, url: w.url });
  });
  e.analysis.prometheus.forEach((p, i) => urls.push({ key: `${at}.analysis.prometheus[${i}].url`, url: p.url }));
  if (e.tls?.source.kind === 'acme') urls.push({ key: `${at}.tls.acme.directory`, url: e.tls.source.directoryUrl });
  if (e.strategy.type === 'canary') {
    e.strategy.steps.forEach((s, i) => {
      if ('analysis' in s) s.analysis.prometheus.forEach((p, j) => urls.push({ key: `${at}.strategy.steps[${i}].analysis.prometheus[${j}].url`, url: p.url }));
    });
  }
  return urls;
}

function checkListen(rules: EffectivePolicy, key: string, a: ListenAddress): PolicyViolation[] {
  if (rules.listen === null || rules.listen.some((p) => listenMatches(p, a))) return [];
  const value = a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
  return [{ key, rule: 'listen', value, message: `listen address ${value} is not one the policy allows (${rules.listen.join(', ') || 'none'})` }];
}

/** `host:port`, `[v6]:port`, `*:8080`, `127.0.0.1:*`, `0.0.0.0:8000-8099`. */
export function listenMatches(pattern: string, a: ListenAddress): boolean {
  const m = /^(\[[^\]]+\]|[^:]+):(\*|\d+|\d+-\d+)$/.exec(pattern.trim());
  if (!m) return false;
  const host = m[1]!.replace(/^\[|\]$/g, '');
  if (host !== '*' && canonicalAddress(host) !== canonicalAddress(a.host)) return false;
  const port = m[2]!;
  if (port === '*') return true;
  const [lo, hi] = port.includes('-') ? port.split('-').map(Number) : [Number(port), Number(port)];
  return a.port >= lo! && a.port <= hi!;
}

/** A file the server reads for an environment (not a secret's value): allowed only by the policy's file rules. */
function checkReadableFile(rules: EffectivePolicy, env: string, key: string, path: string): PolicyViolation[] {
  if (!hasDotSegment(path) && rules.secrets.file.some((p) => globMatches(p, path, '/'))) return [];
  return [{ key, rule: 'secrets.file', value: path, message: `the file ${path} is not one the policy lets ${env} read; files are read only when the admin lists them` }];
}

/** A `.` or `..` part would let a path written inside the scope name one outside it. */
const hasDotSegment = (path: string) => path.split('/').some((s) => s === '.' || s === '..');

/** Is the variable in the environment's own scope, and in no longer scope of another environment's? */
function isOwnVariable(scope: { env: string; others: string[] }, name: string): boolean {
  const own = ownEnvPrefix(scope.env);
  if (!name.startsWith(own)) return false;
  return !scope.others.some((o) => o !== scope.env && ownEnvPrefix(o).length > own.length && ownEnvPrefix(o).startsWith(own) && name.startsWith(ownEnvPrefix(o)));
}

function checkSecret(scope: { env: string; others: string[] }, rules: EffectivePolicy, key: string, spec: ExternalSecretSpec): PolicyViolation[] {
  const { env } = scope;
  switch (spec.provider) {
    case 'env': {
      const own = ownEnvPrefix(env);
      if (isOwnVariable(scope, spec.name) || rules.secrets.env.some((p) => globMatches(p, spec.name, null))) return [];
      return [{ key: `${key}.env`, rule: 'secrets.env', value: spec.name, message: `${spec.name} is outside ${env}'s own scope: ${env} reads only server variables named ${own}* unless the policy allows more` }];
    }
    case 'vault': {
      const where = `${spec.mount}:${spec.path}`;
      if (hasDotSegment(spec.path) || hasDotSegment(spec.mount)) {
        return [{ key: `${key}.vault.path`, rule: 'secrets.vault', value: where, message: `Vault path ${where} has a . or .. part; write the path itself` }];
      }
      const inOwnScope = spec.mount === DEFAULT_VAULT_MOUNT_NAME && spec.path.startsWith(`${env}/`);
      if (inOwnScope || rules.secrets.vault.some((p) => vaultMatches(p, spec))) return [];
      return [{ key: `${key}.vault.path`, rule: 'secrets.vault', value: where, message: `Vault path ${spec.path}${spec.mount === DEFAULT_VAULT_MOUNT_NAME ? '' : ` in mount ${spec.mount}`} is outside ${env}'s own scope: ${env} reads only ${env}/... in mount ${DEFAULT_VAULT_MOUNT_NAME} unless the policy allows more` }];
    }
    case 'file': {
      if (!hasDotSegment(spec.path) && rules.secrets.file.some((p) => globMatches(p, spec.path, '/'))) return [];
      return [{ key: `${key}.file`, rule: 'secrets.file', value: spec.path, message: `the file ${spec.path} is not one the policy lets ${env} read; files are read only when the admin lists them` }];
    }
  }
}

function vaultMatches(pattern: string, spec: { mount: string; path: string }): boolean {
  const i = pattern.indexOf(':');
  const mount = i < 0 ? DEFAULT_VAULT_MOUNT_NAME : pattern.slice(0, i);
  return globMatches(mount, spec.mount, '/') && globMatches(i < 0 ? pattern : pattern.slice(i + 1), spec.path, '/');
}

interface UrlParts {
  scheme: string;
  host: string;
  port: number;
  path: string;
}

const DEFAULT_PORTS: Record<string, number> = { http: 80, https: 443 };

function urlParts(url: string): UrlParts | null {
  try {
    const u = new URL(url);
    const scheme = u.protocol.replace(/:$/, '');
    const port = u.port === '' ? DEFAULT_PORTS[scheme] : Number(u.port);
    if (port === undefined) return null;
    return { scheme, host: u.hostname.replace(/^\[|\]$/g, '').toLowerCase(), port, path: u.pathname };
  } catch {
    return null;
  }
}

/** `https://hooks.example.com/**`, `http://127.0.0.1:9090` (any path), `http://*:*`; `*` alone as host is any host. */
export function urlMatches(pattern: string, url: string): boolean {
  const m = /^(https?|\*):\/\/(\[[^\]]+\]|[^/:]+)(?::(\d+|\*))?(\/.*)?$/.exec(pattern.trim());
  const u = urlParts(url);
  if (!m || !u) return false;
  const [, scheme, hostPattern, port, path] = m as unknown as [string, string, string, string | undefined, string | undefined];
  if (scheme !== '*' && scheme !== u.scheme) return false;
  const host = hostPattern.replace(/^\[|\]$/g, '').toLowerCase();
  const hostOk = host === '*' || (addressKind(host) !== null ? canonicalAddress(host) === canonicalAddress(u.host) : globMatches(host, u.host, '.'));
  if (!hostOk) return false;
  if (port !== '*' && (port === undefined ? DEFAULT_PORTS[u.scheme] : Number(port)) !== u.port) return false;
  return globMatches(path ?? '/**', u.path, '/');
}

const KIND_WORDS: Record<Exclude<AddressKind, 'public'>, string> = {
  loopback: 'a loopback address (this machine)',
  private: 'a private network address',
  'link-local': 'a link-local address (cloud metadata lives there)',
  unspecified: 'the unspecified address (this machine)',
  multicast: 'a multicast address',
  reserved: 'a reserved address',
};

/** What a URL's check needs of the whole check. */
type UrlContext = Pick<PolicyCheck, 'env' | 'resolved' | 'serverListeners' | 'localAddresses'>;

function checkUrl(c: UrlContext, rules: EffectivePolicy, key: string, url: string): PolicyViolation[] {
  const u = urlParts(url);
  const shown = url.replace(/\/\/[^@/]*@/, '//***@');
  if (!u) return [{ key, rule: 'outbound', value: shown, message: `${shown} is not an http:// or https:// URL` }];
  const literal = addressKind(u.host);
  const addresses = literal !== null ? [u.host] : c.resolved?.[u.host] ?? [];
  const server = serverListenerAt(c, u, addresses);
  if (server) return [{ key, rule: 'outbound.server', value: shown, message: `${shown} is ${server}; no slipway.yaml may make the server call its own API or the router's admin API` }];
  if (rules.outbound.allow.some((p) => urlMatches(p, url))) return [];
  const isLocalName = u.host === 'localhost' || u.host.endsWith('.localhost');
  const kinds = isLocalName ? (['loopback'] as AddressKind[]) : addresses.map((a) => addressKind(a) ?? 'public');
  const bad = kinds.find((k) => k !== 'public') as Exclude<AddressKind, 'public'> | undefined;
  const allowed = rules.outbound.allow.join(', ') || 'none';
  if (bad) {
    const via = literal === null && !isLocalName ? ` (${u.host} resolves to ${addresses.join(', ')})` : '';
    return [{ key, rule: 'outbound', value: shown, message: `${shown} is ${KIND_WORDS[bad]}${via}, which the server calls only when the policy allows it (outbound.allow: ${allowed})` }];
  }
  if (!rules.outbound.public) return [{ key, rule: 'outbound', value: shown, message: `${shown} is not one the policy allows ${c.env} to call (outbound.allow: ${allowed}; public: false)` }];
  return [];
}

/** Which of the server's own listeners a URL would reach, named, or null. */
function serverListenerAt(c: UrlContext, u: UrlParts, addresses: string[]): string | null {
  const local = new Set((c.localAddresses ?? []).map(canonicalAddress));
  const isThisMachine = (a: string) => ['loopback', 'unspecified'].includes(addressKind(a) ?? '') || local.has(canonicalAddress(a));
  const names = u.host === 'localhost' || u.host.endsWith('.localhost') ? ['127.0.0.1', '::1'] : addresses;
  for (const s of c.serverListeners ?? []) {
    if (s.address.port !== u.port) continue;
    const host = s.address.host;
    const everyAddress = host === '' || addressKind(host) === 'unspecified';
    const reaches = names.some((a) => (everyAddress || addressKind(host) === 'loopback' ? isThisMachine(a) : canonicalAddress(a) === canonicalAddress(host)));
    if (reaches) return s.name;
  }
  return null;
}

/** The violations as one message: each key and why, the way an error answer says them. */
export function describeViolations(env: string, violations: PolicyViolation[]): string {
  const lines = violations.map((v) => `${v.key}: ${v.message}`);
  return `slipway.yaml asks for more than the admin's policy allows ${env}:\n  ${lines.join('\n  ')}\nChange slipway.yaml, or ask an admin to widen the policy (slipway policy show). Nothing was changed`;
}

/** What holds where the admin has said nothing, as `slipway policy show` prints it. */
export const POLICY_DEFAULTS: readonly string[] = [
  'listen: any address (another environment\'s, the server\'s and one held by another process are refused all the same)',
  'hosts: any host name',
  'secrets.env: only SLIPWAY_SECRET_<ENV>_* (the environment name upper-cased, - as _)',
  "secrets.vault: only <env>/** in the mount 'secret'",
  'secrets.file: none',
  'outbound: public addresses only; loopback, private, link-local (169.254.0.0/16, cloud metadata), unspecified and localhost need outbound.allow',
  "always refused: the slipway server's own API address and the router's admin API address",
];
