import { describe, expect, it } from 'vitest';
import { SHADOW_DEFAULTS, type ShadowSpec, type ShadowStatsJson } from '../core/shadow/shadow-spec.ts';
import type { Rollout } from '../core/rollout.ts';
import type { MetricsSampler } from './metrics-sampler.ts';
import { ShadowJudge } from './shadow-judge.ts';

const spec: ShadowSpec = { ...SHADOW_DEFAULTS, methods: ['GET'], paths: ['/*'], headers: [], ignore: [], durationMs: 60_000, minRequests: 1 };
const rollout = { id: 7, env: 'shop/production', stepIndex: 1, toReleaseId: 2, fromReleaseId: 1 } as Rollout;
const SECRET = 'sk-live-4f9a8b7c';

const stats: ShadowStatsJson = {
  run: '7:1', sampled: 10, compared: 10, differing: 10, skipped: { inflight: 0, bodyTooLarge: 0, failed: 0, noBackend: 0 },
  endpoints: { 'GET /config': { compared: 10, differing: 10, fields: { '/body/upstream': { differing: 10, noise: 0 } }, examples: [{ endpoint: 'GET /config', url: `/config/${SECRET}`, field: '/body/upstream', stable: `"https://a/${SECRET}"`, candidate: '"https://b"' }] } },
};

/** FAKE sampler: only the shadow figures the judge reads, as last sampled at `at`. */
const sampler = (at: number, s: ShadowStatsJson | null) => ({ shadowOf: () => (s ? { at, stats: s } : null) }) as unknown as MetricsSampler;

describe('ShadowJudge', () => {
  it('masks every secret value of the releases in the verdict it records', async () => {
    const judge = new ShadowJudge({ sampler: sampler(100, stats), secretsOf: async () => [SECRET], now: () => 100 });
    const v = await judge.verdict(rollout, spec, 50);
    expect(v?.decision).toBe('fail');
    expect(JSON.stringify(v)).not.toContain(SECRET);
    expect(v?.examples[0]).toMatchObject({ url: '/config/***', stable: '"https://a/***"', candidate: '"https://b"' });
    expect(judge.latest('shop/production', 7)).toEqual(v);
  });

  it('waits for figures read after the step ended, and reads another run\'s figures as none', async () => {
    expect(await new ShadowJudge({ sampler: sampler(40, stats), secretsOf: async () => [], now: () => 45 }).verdict(rollout, spec, 50)).toBeNull();
    const other = await new ShadowJudge({ sampler: sampler(60, { ...stats, run: '7:0' }), secretsOf: async () => [], now: () => 60 }).verdict(rollout, spec, 50);
    expect(other).toMatchObject({ decision: 'inconclusive', compared: 0 });
  });
});
