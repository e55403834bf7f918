import { describe, expect, it } from 'vitest';
import { addressesClash, claimListenAddresses, listenerIdOf, type ListenerWant } from './listen-claims.ts';

const want = (key: string, listen: string, hosts?: string[], pathPrefix?: string): ListenerWant => ({ key, listen, ...(hosts ? { hosts } : {}), ...(pathPrefix ? { pathPrefix } : {}) });
/** key → listener id, for what is listening now. */
const serving = (entries: Array<[string, string]>) => new Map(entries.map(([key, listen]) => [key, listenerIdOf({ key, listen })]));
const groups = (claims: ReturnType<typeof claimListenAddresses>) => [...claims.granted.values()].map((g) => `${g.listen} ${g.keys.join(',')}`);

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

  it('grants every address when none is named twice, each its own listener', () => {
    const claims = claimListenAddresses([want('production', '127.0.0.1:80'), want('staging', '127.0.0.1:81'), want('staging:preview', '127.0.0.1:0'), want('qa:preview', '127.0.0.1:0')], new Map());
    expect(groups(claims)).toEqual(['127.0.0.1:80 production', '127.0.0.1:81 staging', '127.0.0.1:0 staging:preview', '127.0.0.1:0 qa:preview']);
    expect(claims.refused.size).toBe(0);
  });

  it('keeps the address with the environment already serving on it, whatever the table order', () => {
    const claims = claimListenAddresses([want('alpha', '127.0.0.1:80'), want('production', '127.0.0.1:80'), want('qa', '127.0.0.1:82')], serving([['production', '127.0.0.1:80']]));
    expect(groups(claims)).toEqual(['127.0.0.1:80 production', '127.0.0.1:82 qa']);
    expect([...claims.refused]).toEqual([['alpha', { listen: '127.0.0.1:80', heldBy: 'production', clash: { kind: 'address' } }]]);
  });

  it('with no one serving (a router just started), gives the address to the first in table order', () => {
    const claims = claimListenAddresses([want('production', '127.0.0.1:80'), want('staging', '0.0.0.0:80'), want('staging:preview', '127.0.0.1:80')], new Map());
    expect(groups(claims)).toEqual(['127.0.0.1:80 production']);
    expect([...claims.refused.keys()]).toEqual(['staging', 'staging:preview']);
    expect(claims.refused.get('staging')).toMatchObject({ listen: '0.0.0.0:80', heldBy: 'production' });
  });

  it('lets a listener that moves away free its old address for another', () => {
    // production moves from :80 to :81; staging asks for :80 in the same table.
    const claims = claimListenAddresses([want('production', '127.0.0.1:81'), want('staging', '127.0.0.1:80')], serving([['production', '127.0.0.1:80']]));
    expect(groups(claims)).toEqual(['127.0.0.1:81 production', '127.0.0.1:80 staging']);
    expect(claims.refused.size).toBe(0);
  });

  it('puts environments that all name hosts on one listener, however they spell the address', () => {
    const claims = claimListenAddresses([
      want('blog', '127.0.0.1:80', ['blog.example.com']),
      want('shop', '[::ffff:127.0.0.1]:80', ['shop.example.com', '*.example.com']),
      want('api', '127.0.0.1:80', ['shop.example.com'], '/api'),
      want('other', '127.0.0.1:81', ['blog.example.com']),
    ], new Map());
    expect(groups(claims)).toEqual(['127.0.0.1:80 blog,shop,api', '127.0.0.1:81 other']);
    expect(claims.refused.size).toBe(0);
  });

  it('keeps a host and path with the environment serving it, and refuses the newcomer alone', () => {
    const claims = claimListenAddresses([
      want('aaa', '127.0.0.1:80', ['shop.example.com']),
      want('shop', '127.0.0.1:80', ['shop.example.com']),
      want('blog', '127.0.0.1:80', ['blog.example.com']),
    ], serving([['shop', '127.0.0.1:80']]));
    expect(groups(claims)).toEqual(['127.0.0.1:80 shop,blog']);
    expect([...claims.refused]).toEqual([['aaa', { listen: '127.0.0.1:80', heldBy: 'shop', clash: { kind: 'route', host: 'shop.example.com', pathPrefix: '/' } }]]);
  });

  it('never shares with an environment without hosts, nor with a preview listener', () => {
    const claims = claimListenAddresses([
      want('production', '127.0.0.1:80'),
      want('blog', '127.0.0.1:80', ['blog.example.com']),
      want('shop', '127.0.0.1:81', ['shop.example.com']),
      want('staging:preview', '127.0.0.1:81'),
    ], new Map());
    expect(groups(claims)).toEqual(['127.0.0.1:80 production', '127.0.0.1:81 shop']);
    expect(claims.refused.get('blog')).toMatchObject({ heldBy: 'production', clash: { kind: 'address' } });
    expect(claims.refused.get('staging:preview')).toMatchObject({ heldBy: 'shop', clash: { kind: 'address' } });
  });
});
