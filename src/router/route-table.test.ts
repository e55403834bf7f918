import { describe, expect, it } from 'vitest';
import { isSlipwayError } from '../core/errors.ts';
import { listenHost, listenPort, parseRouteTable, routeTableDigest, type RouteTable } from './route-table.ts';

const good = {
  version: 3,
  environments: {
    production: {
      listen: '127.0.0.1:8080',
      backends: [
        { id: 'i-1', release: 'production#4', url: 'http://127.0.0.1:4001' },
        { id: 'i-2', release: 'production#5', url: 'http://127.0.0.1:4002' },
      ],
      weights: { 'production#4': 90, 'production#5': 10.5 },
    },
  },
};

function messageOf(input: unknown): string {
  try {
    parseRouteTable(input);
  } catch (e) {
    if (isSlipwayError(e) && e.code === 'E_BAD_REQUEST') return e.message;
    throw e;
  }
  throw new Error('expected the table to be refused');
}

describe('route table', () => {
  it('accepts a valid table with decimal weights', () => {
    expect(parseRouteTable(good)).toEqual(good);
  });

  it.each([
    ['an unknown top-level key', { ...good, extra: 1 }, 'extra'],
    ['an unknown backend key', { version: 1, environments: { p: { ...good.environments.production, backends: [{ id: 'a', release: 'r', url: 'http://127.0.0.1:1', weight: 3 }] } } }, 'environments.p.backends[0]'],
    ['a weight above 100', { version: 1, environments: { p: { ...good.environments.production, weights: { r: 101 } } } }, 'environments.p.weights.r: weight must be between 0 and 100'],
    ['a negative weight', { version: 1, environments: { p: { ...good.environments.production, weights: { r: -1 } } } }, 'weight must be between 0 and 100'],
    ['a listen address without a port', { version: 1, environments: { p: { ...good.environments.production, listen: '127.0.0.1' } } }, 'environments.p.listen: must be "HOST:PORT"'],
    ['a backend url with a path', { version: 1, environments: { p: { ...good.environments.production, backends: [{ id: 'a', release: 'r', url: 'http://127.0.0.1:1/app' }] } } }, 'environments.p.backends[0].url'],
    ['an https backend', { version: 1, environments: { p: { ...good.environments.production, backends: [{ id: 'a', release: 'r', url: 'https://127.0.0.1:1' }] } } }, 'plain HTTP'],
    ['a fractional version', { ...good, version: 1.5 }, 'version: version must be an integer'],
    ['a missing version', { environments: {} }, 'version'],
    ['a host with a port', { version: 1, environments: { p: { ...good.environments.production, hosts: ['shop.example.com:80'] } } }, 'environments.p.hosts[0]: must be a lower-case host name or a *. wildcard'],
    ['a host in upper case', { version: 1, environments: { p: { ...good.environments.production, hosts: ['Shop.example.com'] } } }, 'environments.p.hosts[0]'],
    ['a wildcard past the first label', { version: 1, environments: { p: { ...good.environments.production, hosts: ['a.*.example.com'] } } }, 'environments.p.hosts[0]'],
    ['an empty hosts list', { version: 1, environments: { p: { ...good.environments.production, hosts: [] } } }, 'environments.p.hosts: hosts, when present, lists at least one host'],
    ['a path prefix with a trailing slash', { version: 1, environments: { p: { ...good.environments.production, pathPrefix: { path: '/api/', strip: true } } } }, 'environments.p.pathPrefix.path: must be "/" or "/segment[/segment...]"'],
    ['a path prefix with a query', { version: 1, environments: { p: { ...good.environments.production, pathPrefix: { path: '/api?x', strip: false } } } }, 'environments.p.pathPrefix.path'],
    ['a path prefix without strip', { version: 1, environments: { p: { ...good.environments.production, pathPrefix: { path: '/api' } } } }, 'environments.p.pathPrefix.strip'],
  ])('refuses %s, naming the field', (_what, input, expected) => {
    expect(messageOf(input)).toContain(expected);
  });

  it('refuses a backend id used twice, since inflight is tracked by id', () => {
    const env = good.environments.production;
    const input = { version: 1, environments: { a: env, b: { ...env, listen: '127.0.0.1:9090' } } };
    expect(messageOf(input)).toContain('backend id "i-1" is already used in environment "a"');
  });

  it('accepts hosts and a path prefix, and tables without them as before', () => {
    const shared = { ...good.environments.production, hosts: ['shop.example.com', '*.example.com'], pathPrefix: { path: '/api', strip: true } };
    expect(parseRouteTable({ version: 1, environments: { p: shared } }).environments.p).toEqual(shared);
    expect(parseRouteTable(good).environments.production).not.toHaveProperty('hosts');
  });

  it('accepts two environments on one address: the router gives it to one and reports the other, the table is not refused', () => {
    const one = (id: string, listen: string) => ({ listen, backends: [{ id, release: 'r', url: 'http://127.0.0.1:1' }], weights: { r: 100 } });
    expect(() => parseRouteTable({ version: 1, environments: { a: one('x', '127.0.0.1:80'), b: one('y', '127.0.0.1:80') } })).not.toThrow();
    expect(() => parseRouteTable({ version: 1, environments: { a: one('x', '127.0.0.1:0'), b: one('y', '127.0.0.1:0') } })).not.toThrow();
  });

  it('digests the routes alone, the same whatever order the keys came in, and differently for any change', () => {
    const parsed = parseRouteTable(good);
    const reordered = { environments: { production: { weights: { 'production#5': 10.5, 'production#4': 90 }, backends: good.environments.production.backends, listen: '127.0.0.1:8080' } } };
    expect(routeTableDigest(parsed)).toMatch(/^[0-9a-f]{64}$/);
    expect(routeTableDigest(reordered)).toBe(routeTableDigest(parsed));
    const later: RouteTable = { ...parsed, version: 99 };
    expect(routeTableDigest(later)).toBe(routeTableDigest(parsed));
    const prod = parsed.environments.production!;
    const changed: RouteTable['environments'][] = [
      { production: { ...prod, listen: '127.0.0.1:8081' } },
      { production: { ...prod, weights: { 'production#4': 100, 'production#5': 0 } } },
      { production: { ...prod, backends: [prod.backends[1]!, prod.backends[0]!] } },
      { production: { ...prod, backends: [{ ...prod.backends[0]!, url: 'http://127.0.0.1:4999' }, prod.backends[1]!] } },
      { production: prod, staging: prod },
      {},
    ];
    const digests = changed.map((environments) => routeTableDigest({ environments }));
    expect(new Set([...digests, routeTableDigest(parsed)]).size).toBe(changed.length + 1);
  });

  it('splits listen addresses, IPv6 included', () => {
    expect([listenHost('127.0.0.1:8080'), listenPort('127.0.0.1:8080')]).toEqual(['127.0.0.1', 8080]);
    expect([listenHost('[::1]:81'), listenPort('[::1]:81')]).toEqual(['::1', 81]);
  });
});
