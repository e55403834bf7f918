import { describe, expect, it } from 'vitest';
import type { EnvironmentSpec, ListenAddress, Strategy } from '../core/service-config.ts';
import { describeOverlap, findListenOverlap, listenWantsOf, overlapKey, releaseClaims, type ListenClaim } from './listen-overlap.ts';
import type { ReleaseRecord } from '../core/records.ts';

const at = (host: string, port: number): ListenAddress => ({ host, port });

function environment(o: { listen: ListenAddress; strategy?: Strategy; gateway?: boolean; hosts?: string[]; pathPrefix?: string }): EnvironmentSpec {
  return {
    listen: o.listen,
    ...(o.hosts ? { hosts: o.hosts } : {}),
    ...(o.pathPrefix ? { pathPrefix: { path: o.pathPrefix, strip: true } } : {}),
    strategy: o.strategy ?? { type: 'rolling' },
    runtime: o.gateway ? 'kubernetes' : 'process',
    ...(o.gateway ? { kubernetes: { traffic: 'gateway' } } : {}),
  } as unknown as EnvironmentSpec;
}

const blueGreen = (preview: ListenAddress | null): Strategy => ({ type: 'blue-green', previewListen: preview, autoPromote: true, scaleDownDelayMs: 0 });

describe('listenWantsOf', () => {
  it('names the listen key, and the preview listener of blue-green', () => {
    expect(listenWantsOf('staging', environment({ listen: at('127.0.0.1', 8080), strategy: blueGreen(at('127.0.0.1', 8090)) }))).toEqual([
      { key: 'environments.staging.listen', address: at('127.0.0.1', 8080) },
      { key: 'environments.staging.strategy.preview_listen', address: at('127.0.0.1', 8090) },
    ]);
    expect(listenWantsOf('staging', environment({ listen: at('127.0.0.1', 8080), strategy: blueGreen(null) }))).toHaveLength(1);
  });

  it('wants TLS\'s plain-HTTP listener too, routed by the same hosts, so two environments may share port 80 as they share 443', () => {
    const spec = { ...environment({ listen: at('0.0.0.0', 8443), hosts: ['shop.example.com'] }), tls: { httpListen: at('0.0.0.0', 8080), redirectHttp: true, source: { kind: 'files', certificates: [] } } } as EnvironmentSpec;
    expect(listenWantsOf('shop', spec)).toEqual([
      { key: 'environments.shop.listen', address: at('0.0.0.0', 8443), hosts: ['shop.example.com'] },
      { key: 'environments.shop.tls.http_listen', address: at('0.0.0.0', 8080), hosts: ['shop.example.com'] },
    ]);
  });

  it('wants nothing when a Gateway, not the router, takes the traffic', () => {
    expect(listenWantsOf('production', environment({ listen: at('127.0.0.1', 8080), gateway: true }))).toEqual([]);
  });
});

describe('findListenOverlap', () => {
  const production: ListenClaim = { address: at('127.0.0.1', 8080), holder: { kind: 'environment', env: 'production', release: 2, key: 'environments.production.listen' } };
  const api: ListenClaim = { address: at('127.0.0.1', 7070), holder: { kind: 'server', name: "the slipway server's own API address" } };

  it('finds nothing when every address is free', () => {
    expect(findListenOverlap(listenWantsOf('staging', environment({ listen: at('127.0.0.1', 8081) })), [production, api])).toBeNull();
  });

  it("names another environment's release that holds the address", () => {
    const o = findListenOverlap(listenWantsOf('staging', environment({ listen: at('0.0.0.0', 8080) })), [api, production]);
    expect(o?.held).toBe(production);
    expect(describeOverlap(o!)).toBe('environments.staging.listen 0.0.0.0:8080 is already used by environment "production" (listen 127.0.0.1:8080 of production#2)');
  });

  it("names the server's own API address", () => {
    const o = findListenOverlap(listenWantsOf('staging', environment({ listen: at('localhost', 7070) })), [production, api]);
    expect(describeOverlap(o!)).toBe("environments.staging.listen localhost:7070 is the slipway server's own API address (127.0.0.1:7070)");
  });

  it('sees another spelling of a held address (the rule is core/listen-overlap.ts)', () => {
    const o = findListenOverlap(listenWantsOf('staging', environment({ listen: at('::ffff:127.0.0.1', 8080) })), [production]);
    expect(o?.held).toBe(production);
  });

  it('checks the preview listener too, after the listen', () => {
    const wants = listenWantsOf('staging', environment({ listen: at('127.0.0.1', 8081), strategy: blueGreen(at('127.0.0.1', 8080)) }));
    expect(findListenOverlap(wants, [production])?.want.key).toBe('environments.staging.strategy.preview_listen');
  });

  it('refuses a preview listener on the release’s own listen address', () => {
    const wants = listenWantsOf('staging', environment({ listen: at('0.0.0.0', 8081), strategy: blueGreen(at('127.0.0.1', 8081)) }));
    const o = findListenOverlap(wants, []);
    expect(describeOverlap(o!)).toBe('environments.staging.strategy.preview_listen 127.0.0.1:8081 overlaps environments.staging.listen (0.0.0.0:8081) of the same release');
  });
});

describe('findListenOverlap on a listener shared by host', () => {
  const here = at('127.0.0.1', 8080);
  const release = (env: string, number: number, o: Parameters<typeof environment>[0]) => ({ env, number, config: { environment: environment(o) } }) as unknown as ReleaseRecord;
  const shop = releaseClaims(release('shop', 3, { listen: here, hosts: ['shop.example.com', '*.example.com'] }));

  it('carries the hosts and path prefix of the listen, and none for the preview listener', () => {
    expect(listenWantsOf('blog', environment({ listen: here, hosts: ['blog.example.com'], pathPrefix: '/api', strategy: blueGreen(at('127.0.0.1', 8090)) }))).toEqual([
      { key: 'environments.blog.listen', address: here, hosts: ['blog.example.com'], pathPrefix: '/api' },
      { key: 'environments.blog.strategy.preview_listen', address: at('127.0.0.1', 8090) },
    ]);
  });

  it('lets an environment with other hosts share the address', () => {
    expect(findListenOverlap(listenWantsOf('blog', environment({ listen: here, hosts: ['blog.example.org'] })), shop)).toBeNull();
    // An exact name under another's wildcard: the exact one wins, no clash.
    expect(findListenOverlap(listenWantsOf('blog', environment({ listen: here, hosts: ['blog.example.com'] })), shop)).toBeNull();
    // The same host under another path prefix.
    expect(findListenOverlap(listenWantsOf('api', environment({ listen: here, hosts: ['shop.example.com'], pathPrefix: '/api' })), shop)).toBeNull();
  });

  it('names both environments, the host and the path when both claim one host', () => {
    const o = findListenOverlap(listenWantsOf('blog', environment({ listen: here, hosts: ['blog.example.com', 'Shop.example.com'] })), shop)!;
    expect(o.clash).toEqual({ kind: 'route', host: 'shop.example.com', pathPrefix: '/' });
    expect(overlapKey(o)).toBe('environments.blog.hosts');
    expect(describeOverlap(o)).toBe('environments.blog.hosts: host shop.example.com with path prefix / on 127.0.0.1:8080 is already claimed by environment "shop" (hosts of shop#3)');
  });

  it('refuses the same wildcard twice', () => {
    const o = findListenOverlap(listenWantsOf('blog', environment({ listen: here, hosts: ['*.example.com'] })), shop)!;
    expect(describeOverlap(o)).toContain('host *.example.com with path prefix / on 127.0.0.1:8080 is already claimed by environment "shop"');
  });

  it('keeps the address to one environment when either names no hosts', () => {
    const o = findListenOverlap(listenWantsOf('blog', environment({ listen: here })), shop)!;
    expect(o.clash).toEqual({ kind: 'address' });
    expect(describeOverlap(o)).toBe('environments.blog.listen 127.0.0.1:8080 is already used by environment "shop" (listen 127.0.0.1:8080 of shop#3)');
  });

  it('never shares a preview listener, even on a shared address', () => {
    const wants = listenWantsOf('blog', environment({ listen: at('127.0.0.1', 8081), hosts: ['blog.example.com'], strategy: blueGreen(here) }));
    expect(findListenOverlap(wants, shop)?.want.key).toBe('environments.blog.strategy.preview_listen');
  });
});
