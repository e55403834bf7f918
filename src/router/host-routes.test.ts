import { describe, expect, it } from 'vitest';
import type { EnvRoute } from './env-route.ts';
import { hostHeaderOf, HostRoutes, isUnderPrefix, requestHost, stripPathPrefix, UNKNOWN_HOST, UNKNOWN_PATH, type ListenerMember } from './host-routes.ts';

const route = (name: string) => ({ name }) as EnvRoute;
const member = (name: string, hosts: string[] | null, pathPrefix?: string, strip = false): ListenerMember => ({ route: route(name), hosts, pathPrefix: pathPrefix ? { path: pathPrefix, strip } : null });

/** The environment a (host, url) goes to, or the miss. */
function routeOf(routes: HostRoutes, hostHeader: string, url: string): string {
  const e = routes.only ?? routes.match(requestHost(hostHeader), url);
  return typeof e === 'string' ? `unknown ${e}` : e.strip === null ? e.route.name : `${e.route.name} ${stripPathPrefix(url, e.strip)}`;
}

describe('HostRoutes: which environment of a listener a request is for', () => {
  const routes = new HostRoutes([
    member('shop', ['shop.example.com', 'www.shop.example.com']),
    member('shop-api', ['shop.example.com'], '/api', true),
    member('shop-api-v2', ['shop.example.com'], '/api/v2'),
    member('wild', ['*.example.com']),
    member('eu', ['*.eu.example.com']),
    member('admin', ['admin.example.com'], '/admin'),
  ]);

  it.each([
    ['an exact name', 'shop.example.com', '/', 'shop'],
    ['an exact name, its port and case ignored', 'SHOP.Example.com:8080', '/cart', 'shop'],
    ['an exact name with a trailing dot', 'shop.example.com.', '/', 'shop'],
    ['another name of the same environment', 'www.shop.example.com', '/', 'shop'],
    ['the longest prefix, stripped', 'shop.example.com', '/api/orders?x=1', 'shop-api /orders?x=1'],
    ['the bare prefix, stripped to /', 'shop.example.com', '/api', 'shop-api /'],
    ['the bare prefix with a query', 'shop.example.com', '/api?x=1', 'shop-api /?x=1'],
    ['a longer prefix inside it, kept', 'shop.example.com', '/api/v2/orders', 'shop-api-v2'],
    ['a prefix matched by whole segments only', 'shop.example.com', '/apis', 'shop'],
    ['the exact name wins over the wildcard covering it', 'shop.example.com', '/x', 'shop'],
    ['a wildcard, one label deep', 'blog.example.com', '/', 'wild'],
    ['a wildcard, two labels deep', 'a.b.example.com', '/', 'wild'],
    ['the longest wildcard', 'x.eu.example.com', '/', 'eu'],
    ['the longest wildcard, deeper', 'a.b.eu.example.com', '/', 'eu'],
    ['the wildcard of the name the longer one is under', 'eu.example.com', '/', 'wild'],
    ['a wildcard never takes its own domain', 'example.com', '/', 'unknown host'],
    ['an unknown host', 'nope.example.org', '/', 'unknown host'],
    ['no Host header at all', '', '/', 'unknown host'],
    ['a host whose environments take no such path', 'admin.example.com', '/', 'unknown path'],
    ['...and one they take', 'admin.example.com', '/admin/users', 'admin'],
    ['a host that only looks like a suffix', 'badexample.com', '/', 'unknown host'],
  ])('%s: %s%s → %s', (_what, host, url, expected) => {
    expect(routeOf(routes, host, url)).toBe(expected);
  });

  it('sends everything to the one environment of a listener without hosts, with no lookup', () => {
    const own = new HostRoutes([member('production', null)]);
    expect(own.only?.route.name).toBe('production');
    expect(own.sole?.name).toBe('production');
    expect(routeOf(own, 'anything.example', '/whatever')).toBe('production');
  });

  it('applies the path prefix of a listener of its own, whatever the host', () => {
    const own = new HostRoutes([member('production', null, '/app', true)]);
    expect(own.only).toBeNull();
    expect(routeOf(own, 'anything.example', '/app/x')).toBe('production /x');
    expect(routeOf(own, 'anything.example', '/other')).toBe('unknown path');
  });

  it('answers unknown hosts on the listener of one environment that names hosts', () => {
    const one = new HostRoutes([member('blog', ['blog.example.com'])]);
    expect(one.only).toBeNull();
    expect(one.sole?.name).toBe('blog');
    expect(routeOf(one, 'blog.example.com', '/')).toBe('blog');
    expect(routeOf(one, '127.0.0.1:8080', '/')).toBe('unknown host');
  });

  it('reads the host as the router matches it', () => {
    expect(requestHost('Shop.Example.COM:443')).toBe('shop.example.com');
    expect(requestHost('[::1]:8080')).toBe('[::1]');
    expect(requestHost('shop.example.com.')).toBe('shop.example.com');
    expect(hostHeaderOf(['Accept', '*/*', 'HOST', 'a.example', 'Host', 'b.example'])).toBe('a.example');
    expect(hostHeaderOf(['Accept', '*/*'])).toBe('');
    expect(isUnderPrefix('/api', '/api')).toBe(true);
    expect(isUnderPrefix('/api/', '/api')).toBe(true);
    expect(isUnderPrefix('/apiv2', '/api')).toBe(false);
    expect([UNKNOWN_HOST, UNKNOWN_PATH]).toEqual(['host', 'path']);
  });
});
