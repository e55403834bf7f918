import { describe, expect, it } from 'vitest';
import { findListenClash, isSameListener, listenerIdentity, listenersOverlap, type ListenClash, type ListenerUse } from './listen-overlap.ts';
import type { ListenAddress } from './service-config.ts';

const at = (host: string, port: number): ListenAddress => ({ host, port });

// The union of the cases config (cross-checks), router (listen-claims) and engine
// (listen-overlap) each tested for themselves. Where they answered differently
// before, the row says which answer this is and why.
describe('listenersOverlap', () => {
  const table: [string, ListenAddress, ListenAddress, boolean][] = [
    ['the same address', at('127.0.0.1', 8080), at('127.0.0.1', 8080), true],
    ['another port', at('127.0.0.1', 8080), at('127.0.0.1', 8081), false],
    ['two loopback addresses on one port', at('127.0.0.1', 8080), at('127.0.0.2', 8080), false],
    ['the same host name in another case', at('Example.internal', 8080), at('example.internal', 8080), true],
    ['two host names on one port', at('a.internal', 8080), at('b.internal', 8080), false],
    ['0.0.0.0 and a specific IPv4 host', at('0.0.0.0', 8080), at('127.0.0.1', 8080), true],
    ['a specific IPv4 host and 0.0.0.0', at('10.1.2.3', 8080), at('0.0.0.0', 8080), true],
    ['0.0.0.0 and a host name', at('0.0.0.0', 8080), at('example.internal', 8080), true],
    [':: and a specific IPv4 host', at('::', 8080), at('127.0.0.1', 8080), true],
    ['[::] and a specific IPv4 host', at('[::]', 8080), at('127.0.0.2', 8080), true],
    [':: and a specific IPv6 host', at('::1', 8080), at('::', 8080), true],
    ['0.0.0.0 and :: on one port', at('0.0.0.0', 8080), at('::', 8080), true],
    ['0.0.0.0 on another port', at('0.0.0.0', 8080), at('127.0.0.1', 9090), false],
    // Was no overlap in config (a plain string compare); the router and engine said overlap.
    ['localhost and 127.0.0.1', at('localhost', 8080), at('127.0.0.1', 8080), true],
    // Was overlap only in the engine: the router mapped localhost to 127.0.0.1 alone.
    // localhost may resolve to ::1 first, so a bind of it can take either.
    ['localhost and ::1', at('LOCALHOST', 8080), at('::1', 8080), true],
    ['localhost and [::1]', at('localhost', 8080), at('[::1]', 8080), true],
    ['localhost and 127.0.0.2', at('localhost', 8080), at('127.0.0.2', 8080), false],
    // The rows below were overlaps only in the engine; config and router compared text.
    ['two spellings of ::1', at('0:0:0:0:0:0:0:1', 8080), at('::1', 8080), true],
    ['bracketed and bare IPv6', at('[::1]', 8080), at('::1', 8080), true],
    ['leading zeros and case in IPv6', at('FE80::0001', 8080), at('fe80::1', 8080), true],
    ['an all-zero IPv6 spelling is the wildcard', at('0:0::0', 8080), at('192.168.1.1', 8080), true],
    ['an IPv4-mapped IPv6 address and its IPv4 address', at('::ffff:127.0.0.1', 8080), at('127.0.0.1', 8080), true],
    ['an IPv4-mapped IPv6 address in hex and its IPv4 address', at('::ffff:7f00:1', 8080), at('127.0.0.1', 8080), true],
    ['two different IPv6 hosts', at('::1', 8080), at('::2', 8080), false],
    // Was no overlap only in the router; config and engine said overlap. Each bind of
    // port 0 gets a fresh port, so two never collide (config refuses port 0 anyway).
    ['port 0 twice (a fresh port each)', at('127.0.0.1', 0), at('127.0.0.1', 0), false],
    ['port 0 on a wildcard', at('0.0.0.0', 0), at('127.0.0.1', 0), false],
  ];
  it.each(table)('%s', (_what, a, b, overlap) => {
    expect(listenersOverlap(a, b)).toBe(overlap);
    expect(listenersOverlap(b, a)).toBe(overlap);
  });
});

describe('isSameListener: one socket that environments routed by host may share', () => {
  const table: [string, ListenAddress, ListenAddress, boolean][] = [
    ['the same address', at('127.0.0.1', 8080), at('127.0.0.1', 8080), true],
    ['two spellings of ::1', at('[0:0:0:0:0:0:0:1]', 8080), at('::1', 8080), true],
    ['an IPv4-mapped address and its IPv4 address', at('::ffff:127.0.0.1', 8080), at('127.0.0.1', 8080), true],
    ['a host name in another case', at('LOCALHOST', 8080), at('localhost', 8080), true],
    // Overlaps, but two binds: localhost may take either loopback address.
    ['localhost and 127.0.0.1', at('localhost', 8080), at('127.0.0.1', 8080), false],
    // Overlaps, but two binds that exclude each other.
    ['0.0.0.0 and 127.0.0.1', at('0.0.0.0', 8080), at('127.0.0.1', 8080), false],
    ['0.0.0.0 and ::', at('0.0.0.0', 8080), at('::', 8080), false],
    ['another port', at('127.0.0.1', 8080), at('127.0.0.1', 8081), false],
    ['port 0 twice (a fresh port each)', at('127.0.0.1', 0), at('127.0.0.1', 0), false],
  ];
  it.each(table)('%s', (_what, a, b, same) => {
    expect(isSameListener(a, b)).toBe(same);
    expect(isSameListener(b, a)).toBe(same);
  });

  it('keys the listener by its canonical address, and port 0 by none', () => {
    expect(listenerIdentity(at('[0:0::1]', 80))).toBe(listenerIdentity(at('::1', 80)));
    expect(listenerIdentity(at('::1', 80))).toBe('[0:0:0:0:0:0:0:1]:80');
    expect(listenerIdentity(at('::ffff:7f00:1', 80))).toBe('127.0.0.1:80');
    expect(listenerIdentity(at('127.0.0.1', 0))).toBeNull();
  });
});

describe('findListenClash: who may share a listener', () => {
  const use = (address: ListenAddress, hosts?: string[], pathPrefix?: string): ListenerUse => ({ address, ...(hosts ? { hosts } : {}), ...(pathPrefix ? { pathPrefix } : {}) });
  const here = at('127.0.0.1', 8080);
  const route = (host: string, pathPrefix = '/'): ListenClash => ({ kind: 'route', host, pathPrefix });
  const table: [string, ListenerUse, ListenerUse, ListenClash | null][] = [
    ['addresses apart never clash', use(here), use(at('127.0.0.1', 8081)), null],
    ['addresses apart, the same hosts', use(here, ['a.example']), use(at('127.0.0.1', 8081), ['a.example']), null],
    ['one address, neither names hosts (as before hosts existed)', use(here), use(here), { kind: 'address' }],
    ['one address, only one names hosts: the other keeps it to itself', use(here, ['a.example']), use(here), { kind: 'address' }],
    ['one address, an empty hosts list counts as none', use(here, []), use(here, ['a.example']), { kind: 'address' }],
    ['one address, different hosts: shared', use(here, ['a.example']), use(here, ['b.example']), null],
    ['one address spelt two ways, different hosts: shared', use(at('::ffff:127.0.0.1', 8080), ['a.example']), use(here, ['b.example']), null],
    ['overlapping addresses that are two binds, different hosts', use(at('0.0.0.0', 8080), ['a.example']), use(here, ['b.example']), { kind: 'address' }],
    ['localhost and 127.0.0.1, different hosts', use(at('localhost', 8080), ['a.example']), use(here, ['b.example']), { kind: 'address' }],
    ['one host on both', use(here, ['a.example', 'c.example']), use(here, ['b.example', 'c.example']), route('c.example')],
    ['one host on both, in another case', use(here, ['Shop.Example']), use(here, ['shop.example']), route('shop.example')],
    ['one host, different path prefixes: shared', use(here, ['a.example'], '/api'), use(here, ['a.example']), null],
    ['one host, two prefixes one inside the other: shared (the longer wins)', use(here, ['a.example'], '/api'), use(here, ['a.example'], '/api/v2'), null],
    ['one host and the same path prefix', use(here, ['a.example'], '/api'), use(here, ['a.example'], '/api'), route('a.example', '/api')],
    ['a trailing slash is the same prefix', use(here, ['a.example'], '/api/'), use(here, ['a.example'], '/api'), route('a.example', '/api')],
    ['prefix / is no prefix', use(here, ['a.example'], '/'), use(here, ['a.example']), route('a.example')],
    ['an exact name and a wildcard covering it: the exact one wins', use(here, ['shop.example.com']), use(here, ['*.example.com']), null],
    ['the same wildcard twice', use(here, ['*.example.com']), use(here, ['*.example.com']), route('*.example.com')],
    ['two wildcards, one inside the other: the longer wins', use(here, ['*.example.com']), use(here, ['*.eu.example.com']), null],
    ['port 0 twice, the same hosts (a fresh port each)', use(at('127.0.0.1', 0), ['a.example']), use(at('127.0.0.1', 0), ['a.example']), null],
  ];
  it.each(table)('%s', (_what, a, b, clash) => {
    expect(findListenClash(a, b)).toEqual(clash);
    expect(findListenClash(b, a)).toEqual(clash);
  });
});
