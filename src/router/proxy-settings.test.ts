import { BlockList, isIPv4 } from 'node:net';
import { describe, expect, it } from 'vitest';
import { trustMatcher } from './proxy-settings.ts';

describe('trustMatcher', () => {
  it.each([
    [['127.0.0.0/8', '::1'], '127.0.0.1', true],
    [['127.0.0.0/8', '::1'], '127.255.3.4', true],
    [['127.0.0.0/8', '::1'], '::ffff:127.0.0.1', true],
    [['127.0.0.0/8', '::1'], '::1', true],
    [['127.0.0.0/8', '::1'], '128.0.0.1', false],
    [['127.0.0.0/8', '::1'], '::2', false],
    [['10.1.2.3'], '10.1.2.3', true],
    [['10.1.2.3'], '10.1.2.4', false],
    [['0.0.0.0/0'], '203.0.113.9', true],
    [['192.168.0.0/16'], '192.169.0.1', false],
    [['fd00::/8'], 'fd12:3456::1', true],
    [['fd00::/8'], 'fe80::1', false],
    [['2001:db8::/32'], '2001:db8:ffff::42', true],
    [['::ffff:10.0.0.0/104'], '10.9.9.9', true],
    [['10.0.0.0/8'], 'fe80::1%eth0', false],
    [[], '127.0.0.1', false],
    [['127.0.0.0/8'], undefined, false],
    [['127.0.0.0/8'], '127.0.0', false],
  ] as const)('%j trusts %s: %s', (entries, peer, expected) => {
    expect(trustMatcher(entries)(peer)).toBe(expected);
  });

  it('agrees with node\'s BlockList on 20,000 random addresses and networks', () => {
    const random = mulberry32(17);
    const v4 = () => Array.from({ length: 4 }, () => Math.floor(random() * 256)).join('.');
    const v6 = () => Array.from({ length: 8 }, () => Math.floor(random() * 65536).toString(16)).join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
    for (let i = 0; i < 2_000; i++) {
      const isV4 = random() < 0.5;
      const network = isV4 ? v4() : v6();
      const prefix = Math.floor(random() * (isV4 ? 33 : 129));
      const list = new BlockList();
      list.addSubnet(network, prefix, isV4 ? 'ipv4' : 'ipv6');
      const matches = trustMatcher([`${network}/${prefix}`]);
      for (let j = 0; j < 10; j++) {
        const peer = isV4 ? v4() : v6();
        expect(matches(peer), `${peer} in ${network}/${prefix}`).toBe(list.check(peer, isIPv4(peer) ? 'ipv4' : 'ipv6'));
      }
      // And the network's own first address, which is always inside it.
      expect(matches(network), `${network} in ${network}/${prefix}`).toBe(true);
    }
  });
});

/** A small seeded generator, so a failure can be replayed. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
