import { describe, expect, it } from 'vitest';
import { validateConfigText } from './load-config.ts';
import { parseBodySize, parseTrustedSource } from './proxy-section.ts';

const withProxy = (proxy: string) => `service: hello
run:
  command: node server.js
environments:
  production:
    listen: 8080
${proxy}
`;

const DEFAULTS = { responseTimeoutMs: 60_000, idleTimeoutMs: 300_000, maxBodyBytes: 100 * 1024 ** 2, trustForwarded: ['127.0.0.0/8', '::1'] };

function issuesOf(text: string): string[] {
  const v = validateConfigText(text, 'slipway.yaml');
  return v.ok ? [] : v.issues.map((i) => `${i.line}:${i.col} ${i.path}: ${i.message}`);
}

describe('proxy in slipway.yaml', () => {
  it.each([
    ['unset: every default', '', DEFAULTS],
    ['written empty: every default', '    proxy:', DEFAULTS],
    ['one key keeps the other defaults', '    proxy: { response_timeout: 2m }', { ...DEFAULTS, responseTimeoutMs: 120_000 }],
    [
      'every key',
      '    proxy:\n      response_timeout: 1s\n      idle_timeout: 1m30s\n      max_body: 1.5GB\n      trust_forwarded: [10.0.0.0/8, 192.168.1.7, "fd00::/8", " ::1 "]',
      { responseTimeoutMs: 1_000, idleTimeoutMs: 90_000, maxBodyBytes: 1.5 * 1024 ** 3, trustForwarded: ['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '::1'] },
    ],
    ['an empty list trusts no proxy', '    proxy: { trust_forwarded: [] }', { ...DEFAULTS, trustForwarded: [] }],
    ['a key with nothing after it trusts no proxy either', '    proxy:\n      trust_forwarded:', { ...DEFAULTS, trustForwarded: [] }],
    ['PROXY protocol from the load balancer in front', '    proxy: { proxy_protocol: v2, trust_forwarded: [10.0.0.0/8] }', { ...DEFAULTS, trustForwarded: ['10.0.0.0/8'], proxyProtocol: 'v2' }],
    ['either PROXY protocol version', '    proxy: { proxy_protocol: any }', { ...DEFAULTS, proxyProtocol: 'any' }],
    ['PROXY protocol off, written out', '    proxy: { proxy_protocol: off }', DEFAULTS],
    ['PROXY protocol off, as a YAML boolean', '    proxy: { proxy_protocol: false }', DEFAULTS],
    ['a long-request threshold', '    proxy: { long_request: 30s }', { ...DEFAULTS, longRequestMs: 30_000 }],
    ['no long requests, written out', '    proxy: { long_request: off }', DEFAULTS],
  ])('%s', (_, text, proxy) => {
    const r = validateConfigText(withProxy(text), 'slipway.yaml');
    expect(r.ok, JSON.stringify(!r.ok && r.issues)).toBe(true);
    if (!r.ok) return;
    expect(r.config.environments.production!.proxy).toEqual(proxy);
  });

  it.each([
    ['a bare number of seconds', '    proxy: { response_timeout: 60 }', '7:32 environments.production.proxy.response_timeout: expected a duration from 1ms to 24h with a unit, such as 60s or 5m, got 60'],
    ['a timeout node cannot hold', '    proxy: { idle_timeout: 30d }', '7:28 environments.production.proxy.idle_timeout: expected a duration from 1ms to 24h with a unit, such as 60s or 5m, got "30d"'],
    ['no time at all', '    proxy: { idle_timeout: 0s }', 'environments.production.proxy.idle_timeout: expected a duration from 1ms to 24h'],
    ['a size without a unit', '    proxy: { max_body: 1048576 }', '7:24 environments.production.proxy.max_body: expected a size from 1KB to 1TB with a unit (KB, MB, GB, TB), such as 100MB, got 1048576'],
    ['a size below 1KB', '    proxy: { max_body: 100b }', 'environments.production.proxy.max_body: expected a size from 1KB to 1TB'],
    ['a host name to trust', '    proxy: { trust_forwarded: [10.0.0.0/8, lb.example.com] }', '7:44 environments.production.proxy.trust_forwarded[1]: expected an IP address or a CIDR such as 10.0.0.0/8, 192.168.1.7 or ::1, got "lb.example.com"'],
    ['a prefix longer than the address', '    proxy: { trust_forwarded: [10.0.0.0/33] }', 'environments.production.proxy.trust_forwarded[0]: expected an IP address or a CIDR'],
    ['one address not in a list', '    proxy: { trust_forwarded: 10.0.0.1 }', 'environments.production.proxy.trust_forwarded: expected a list of IP addresses or CIDRs (an empty list trusts no proxy), got "10.0.0.1"'],
    ['a misspelt key', '    proxy: { max_bdy: 1MB }', 'environments.production.proxy.max_bdy: unknown key; did you mean "max_body"?'],
    ['a list instead of a map', '    proxy: [60s]', 'environments.production.proxy: expected a map with keys response_timeout, idle_timeout, max_body, trust_forwarded, proxy_protocol, long_request, got a list'],
    ['a PROXY protocol version that does not exist', '    proxy: { proxy_protocol: v3 }', '7:30 environments.production.proxy.proxy_protocol: expected off, v1, v2 or any, got "v3"'],
    ['PROXY protocol turned on with a boolean (which version?)', '    proxy: { proxy_protocol: true }', 'environments.production.proxy.proxy_protocol: expected off, v1, v2 or any, got true'],
    ['a long-request threshold without a unit', '    proxy: { long_request: 30 }', 'environments.production.proxy.long_request: expected off, or a duration from 1ms to 24h with a unit, such as 30s, got 30'],
  ])('refuses %s, saying where and why', (_, text, expected) => {
    const issues = issuesOf(withProxy(text));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toContain(expected);
  });

  it('reads sizes in powers of 1024 and addresses as the router will match them', () => {
    expect(parseBodySize('100MB')).toBe(104_857_600);
    expect(parseBodySize('1kb')).toBe(1024);
    expect(parseBodySize('2 TB')).toBeNull();
    expect(parseTrustedSource('10.1.2.3/08')).toBe('10.1.2.3/8');
    expect(parseTrustedSource('::ffff:10.0.0.1')).toBe('::ffff:10.0.0.1');
    expect(parseTrustedSource('10.0.0.1/')).toBeNull();
    expect(parseTrustedSource('*')).toBeNull();
  });
});
