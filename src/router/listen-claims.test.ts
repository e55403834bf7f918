import { describe, expect, it } from 'vitest';
import { addressesClash, claimListenAddresses } from './listen-claims.ts';

const map = (entries: Array<[string, string]>) => new Map(entries);

describe('listen claims', () => {
  // The rule and its full table are core/listen-overlap.ts's; these read it through the route table's text form.
  it.each([
    ['the same host and port', '127.0.0.1:8080', '127.0.0.1:8080', true],
    ['localhost and 127.0.0.1', 'localhost:8080', '127.0.0.1:8080', true],
    ['localhost and [::1] (localhost may resolve to either)', 'localhost:8080', '[::1]:8080', true],
    ['an IPv6 wildcard and a host on one port', '[::]:8080', '127.0.0.2:8080', true],
    ['two spellings of one IPv6 host', '[0:0:0:0:0:0:0:1]:8080', '[::1]:8080', true],
    ['two hosts on one port', '127.0.0.1:8080', '127.0.0.2:8080', false],
    ['one host on two ports', '127.0.0.1:8080', '127.0.0.1:8081', false],
    ['port 0 twice (a fresh port each)', '127.0.0.1:0', '127.0.0.1:0', false],
  ])('%s: clash is %s', (_what, a, b, clash) => {
    expect(addressesClash(a, b)).toBe(clash);
    expect(addressesClash(b, a)).toBe(clash);
  });

  it('grants every address when none is named twice', () => {
    const wanted = map([['production', '127.0.0.1:80'], ['staging', '127.0.0.1:81'], ['staging:preview', '127.0.0.1:0']]);
    expect(claimListenAddresses(wanted, new Map())).toEqual({ granted: wanted, refused: new Map() });
  });

  it('keeps the address with the environment already serving on it, whatever the table order', () => {
    const wanted = map([['alpha', '127.0.0.1:80'], ['production', '127.0.0.1:80'], ['qa', '127.0.0.1:82']]);
    const claims = claimListenAddresses(wanted, map([['production', '127.0.0.1:80']]));
    expect([...claims.granted.keys()].sort()).toEqual(['production', 'qa']);
    expect([...claims.refused]).toEqual([['alpha', { listen: '127.0.0.1:80', heldBy: 'production' }]]);
  });

  it('with no one serving (a router just started), gives the address to the first in table order', () => {
    const wanted = map([['production', '127.0.0.1:80'], ['staging', '0.0.0.0:80'], ['staging:preview', '127.0.0.1:80']]);
    const claims = claimListenAddresses(wanted, new Map());
    expect(claims.granted).toEqual(map([['production', '127.0.0.1:80']]));
    expect([...claims.refused]).toEqual([
      ['staging', { listen: '0.0.0.0:80', heldBy: 'production' }],
      ['staging:preview', { listen: '127.0.0.1:80', heldBy: 'production' }],
    ]);
  });

  it('lets a listener that moves away free its old address for another', () => {
    // production moves from :80 to :81; staging asks for :80 in the same table.
    const claims = claimListenAddresses(map([['production', '127.0.0.1:81'], ['staging', '127.0.0.1:80']]), map([['production', '127.0.0.1:80']]));
    expect(claims.granted).toEqual(map([['production', '127.0.0.1:81'], ['staging', '127.0.0.1:80']]));
    expect(claims.refused.size).toBe(0);
  });
});
