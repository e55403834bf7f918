import { describe, expect, it } from 'vitest';
import { validateConfigText } from './load-config.ts';
import { parseHostPattern, parsePathPrefix } from './hosts-section.ts';

const withEnvs = (envs: string) => `service: hello
run:
  command: node server.js
environments:
${envs}`;

const one = (extra: string) => withEnvs(`  production:
    listen: 8080
${extra}
`);

function issuesOf(text: string): string[] {
  const v = validateConfigText(text, 'slipway.yaml');
  return v.ok ? [] : v.issues.map((i) => `${i.line}:${i.col} ${i.path}: ${i.message}`);
}

function configOf(text: string) {
  const v = validateConfigText(text, 'slipway.yaml');
  if (!v.ok) throw new Error(v.issues.map((i) => `${i.line}:${i.col} ${i.path}: ${i.message}`).join('\n'));
  return v.config;
}

describe('hosts, path_prefix and strip_prefix in slipway.yaml', () => {
  it('leaves all three out when none is written (releases hash as before)', () => {
    const production = configOf(one('')).environments.production!;
    expect(Object.hasOwn(production, 'hosts')).toBe(false);
    expect(Object.hasOwn(production, 'pathPrefix')).toBe(false);
  });

  it.each([
    ['exact names, lower-cased', '    hosts: [Shop.Example.com, www.shop.example.com]', ['shop.example.com', 'www.shop.example.com']],
    ['a wildcard', '    hosts: ["*.shop.example.com", shop.example.com]', ['*.shop.example.com', 'shop.example.com']],
    ['an IPv4 address as a name', '    hosts: [127.0.0.1]', ['127.0.0.1']],
  ])('reads %s', (_, text, hosts) => {
    expect(configOf(one(text)).environments.production!.hosts).toEqual(hosts);
  });

  it.each([
    ['a prefix, kept by default', '    path_prefix: /api', { path: '/api', strip: false }],
    ['a prefix stripped', '    path_prefix: /api\n    strip_prefix: true', { path: '/api', strip: true }],
    ['a trailing slash dropped', '    path_prefix: /api/v2/', { path: '/api/v2', strip: false }],
    ['the root', '    path_prefix: /', { path: '/', strip: false }],
    ['escapes and sub-delimiters', "    path_prefix: /a%20b/c;v=1", { path: '/a%20b/c;v=1', strip: false }],
  ])('reads %s', (_, text, pathPrefix) => {
    expect(configOf(one(text)).environments.production!.pathPrefix).toEqual(pathPrefix);
  });

  it.each([
    ['a port', '    hosts: [shop.example.com:8080]', '7:13 environments.production.hosts[0]: expected a host name such as shop.example.com, or a wildcard such as *.example.com, got "shop.example.com:8080" (no port: the port is the one in listen)'],
    ['a scheme', '    hosts: ["https://shop.example.com"]', 'environments.production.hosts[0]: expected a host name such as shop.example.com, or a wildcard such as *.example.com, got "https://shop.example.com" (no scheme: write the name alone)'],
    ['a path', '    hosts: [shop.example.com/api]', '(no path: give the path in path_prefix)'],
    ['an empty label', '    hosts: [shop..example.com]', 'environments.production.hosts[0]: expected a host name such as shop.example.com, or a wildcard such as *.example.com, got "shop..example.com" (no empty labels (no leading, trailing or double dot))'],
    ['a trailing dot', '    hosts: [shop.example.com.]', '(no empty labels'],
    ['a wildcard inside a label', '    hosts: ["shop*.example.com"]', '(a wildcard is the whole first label, as in *.example.com)'],
    ['a wildcard past the first label', '    hosts: ["shop.*.example.com"]', '(a wildcard is the whole first label, as in *.example.com)'],
    ['a wildcard alone', '    hosts: ["*"]', '(a wildcard needs a domain after it, as in *.example.com)'],
    ['an underscore', '    hosts: [my_shop.example.com]', '("my_shop" is not a label: letters, digits and - (not first or last), at most 63 characters)'],
    ['an IPv6 address', '    hosts: ["[::1]"]', '(no port: the port is the one in listen)'],
    ['a name twice', '    hosts: [shop.example.com, SHOP.example.com]', '7:31 environments.production.hosts[1]: "shop.example.com" is listed twice'],
    ['an empty list', '    hosts: []', 'environments.production.hosts: list at least one host name, or leave hosts: out'],
    ['one name, not in a list', '    hosts: shop.example.com', 'environments.production.hosts: expected a list of host names (a host name such as shop.example.com, or a wildcard such as *.example.com), got "shop.example.com"'],
    ['a prefix without its slash', '    path_prefix: api', '7:18 environments.production.path_prefix: expected a URL path starting with /, such as /api, got "api" (it must start with /)'],
    ['a query', '    path_prefix: /api?v=1', '(no query or fragment: a prefix is matched against the path alone)'],
    ['a space', '    path_prefix: /my api', '(only URL path characters; write a space or other character as a %XX escape)'],
    ['a dot-dot segment', '    path_prefix: /api/../admin', '(no empty, . or .. segment)'],
    ['a double slash', '    path_prefix: /api//v2', '(no empty, . or .. segment)'],
    ['strip_prefix without a prefix', '    strip_prefix: true', 'environments.production.strip_prefix: strip_prefix needs a path_prefix to strip'],
    ['strip_prefix that is not a boolean', '    path_prefix: /api\n    strip_prefix: yes please', 'environments.production.strip_prefix: expected true or false, got "yes please"'],
  ])('refuses %s, saying where and why', (_, text, expected) => {
    const issues = issuesOf(one(text));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toContain(expected);
  });

  it('refuses hosts: with a Gateway, which slipway\'s router never sees', () => {
    const issues = issuesOf(one('    runtime: kubernetes\n    kubernetes: { namespace: shop, image: "shop:{release}", traffic: gateway, gateway: { name: public } }\n    hosts: [shop.example.com]'));
    expect(issues.join('\n')).toContain('environments.production.hosts: with kubernetes traffic: gateway slipway\'s router does not route this environment');
  });

  it('parses patterns and prefixes as the router will match them', () => {
    expect(parseHostPattern(' Shop.Example.COM ')).toEqual({ host: 'shop.example.com' });
    expect(parseHostPattern('*.example.com')).toEqual({ host: '*.example.com' });
    expect(parseHostPattern('-shop.example.com')).toMatchObject({ why: expect.stringContaining('"-shop" is not a label') });
    expect(parseHostPattern(`${'a'.repeat(64)}.example.com`)).toMatchObject({ why: expect.stringContaining('at most 63 characters') });
    expect(parsePathPrefix('/api/')).toEqual({ path: '/api' });
    expect(parsePathPrefix('/')).toEqual({ path: '/' });
    expect(parsePathPrefix('/%zz')).toMatchObject({ why: expect.stringContaining('%XX') });
  });
});

describe('environments of one slipway.yaml on one listen address', () => {
  const two = (blog: string, shop: string) => withEnvs(`  blog:
    listen: 127.0.0.1:8080
${blog}
  shop:
    listen: 127.0.0.1:8080
${shop}
`);

  it('share it when each names hosts, split by host or by path prefix', () => {
    expect(issuesOf(two('    hosts: [blog.example.com]', '    hosts: [shop.example.com]'))).toEqual([]);
    expect(issuesOf(two('    hosts: [example.com]', '    hosts: [example.com]\n    path_prefix: /shop\n    strip_prefix: true'))).toEqual([]);
    // The exact name wins over the wildcard that covers it.
    expect(issuesOf(two('    hosts: ["*.example.com"]', '    hosts: [shop.example.com]'))).toEqual([]);
  });

  it.each([
    ['one names no hosts', '', '    hosts: [shop.example.com]', '9:13 environments.shop.listen: 127.0.0.1:8080 clashes with environment "blog" (127.0.0.1:8080); environments share an address only when each names hosts: ("blog" does not)'],
    ['neither names hosts', '', '', 'environments share an address only when each names hosts: ("shop" does not)'],
    ['both claim one host', '    hosts: [blog.example.com, www.example.com]', '    hosts: [shop.example.com, WWW.example.com]', '10:31 environments.shop.hosts[1]: host www.example.com with path prefix / on 127.0.0.1:8080 is also environment "blog"\'s; environments on one listener need different hosts or path prefixes'],
    ['both claim one wildcard', '    hosts: ["*.example.com"]', '    hosts: ["*.example.com"]', 'environments.shop.hosts[0]: host *.example.com with path prefix / on 127.0.0.1:8080 is also environment "blog"\'s'],
    ['both claim one host and prefix', '    hosts: [example.com]\n    path_prefix: /api/', '    hosts: [example.com]\n    path_prefix: /api', 'environments.shop.hosts[0]: host example.com with path prefix /api on 127.0.0.1:8080 is also environment "blog"\'s'],
  ])('refuse it when %s, blaming the second', (_, blog, shop, expected) => {
    const issues = issuesOf(two(blog, shop));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toContain(expected);
  });

  it('report a bad host name alone, not a listen clash it would cause', () => {
    expect(issuesOf(two('    hosts: [blog.example.com]', '    hosts: ["shop.example.com:80"]'))).toEqual([expect.stringContaining('environments.shop.hosts[0]: expected a host name')]);
  });

  it('refuse two spellings that bind apart (0.0.0.0 and 127.0.0.1), even with hosts', () => {
    const text = two('    hosts: [blog.example.com]', '    hosts: [shop.example.com]').replace('listen: 127.0.0.1:8080\n    hosts: [shop', 'listen: 0.0.0.0:8080\n    hosts: [shop');
    expect(issuesOf(text)).toEqual([expect.stringContaining('environments.shop.listen: 0.0.0.0:8080 clashes with environment "blog" (127.0.0.1:8080); each environment needs its own address (environments routed by hosts: share one only when each writes the same address)')]);
  });
});
