import { describe, expect, it } from 'vitest';
import type { EnvironmentSpec, ListenAddress, Strategy } from '../core/service-config.ts';
import { describeOverlap, findListenOverlap, listenWantsOf, type ListenClaim } from './listen-overlap.ts';

const at = (host: string, port: number): ListenAddress => ({ host, port });

function environment(o: { listen: ListenAddress; strategy?: Strategy; gateway?: boolean }): EnvironmentSpec {
  return {
    listen: o.listen,
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
