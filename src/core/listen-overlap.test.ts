import { describe, expect, it } from 'vitest';
import { listenersOverlap } from './listen-overlap.ts';
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
