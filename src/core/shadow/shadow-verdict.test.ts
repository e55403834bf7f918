import { describe, expect, it } from 'vitest';
import { SHADOW_DEFAULTS, type ShadowSpec, type ShadowStatsJson } from './shadow-spec.ts';
import { evaluateShadow } from './shadow-verdict.ts';

const spec: ShadowSpec = { ...SHADOW_DEFAULTS, methods: ['GET'], paths: ['/*'], headers: [], ignore: [], durationMs: 60_000, minRequests: 10 };
const stats = (compared: number, differing: number): ShadowStatsJson => ({
  run: '1:0', sampled: compared, compared, differing, skipped: { inflight: 0, bodyTooLarge: 0, failed: 0, noBackend: 0 },
  endpoints: { 'GET /p/:id': { compared, differing, fields: { '/body/price': { differing, noise: 0 }, '/body/at': { differing: compared, noise: compared } }, examples: [] } },
});

describe('evaluateShadow', () => {
  it.each([
    [stats(100, 0), 'pass'],
    [stats(100, 1), 'pass'],
    [stats(100, 2), 'fail'],
    [stats(5, 5), 'inconclusive'],
    [null, 'inconclusive'],
  ] as const)('%j → %s', (s, decision) => {
    expect(evaluateShadow(spec, s).decision).toBe(decision);
  });

  it('names the differing field, not the noisy one, in a fail', () => {
    const v = evaluateShadow(spec, stats(100, 30));
    expect(v.reason).toContain('GET /p/:id /body/price (30)');
    expect(v.fields).toEqual([{ endpoint: 'GET /p/:id', field: '/body/price', differing: 30 }]);
    expect(v.diffRate).toBe(0.3);
  });

  it('says why copies went uncompared when too few were: a new release that hangs is not "too little traffic"', () => {
    const hanging = { ...stats(0, 0), sampled: 5525, skipped: { inflight: 5493, bodyTooLarge: 0, failed: 0, noBackend: 0 } };
    const v = evaluateShadow(spec, hanging);
    expect(v.decision).toBe('inconclusive');
    expect(v.reason).toBe(`only 0 request(s) compared, fewer than min_requests 10; not compared: 5493 dropped while ${spec.maxInFlight} copies (max_in_flight) still waited for an answer`);
    expect(evaluateShadow(spec, stats(5, 0)).reason).toBe('only 5 request(s) compared, fewer than min_requests 10');
  });
});
