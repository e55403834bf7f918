import { describe, expect, it } from 'vitest';
import { diffResponses, type CapturedResponse } from './response-diff.ts';
import { KEEP_ENDED_RUN_MS, ShadowRun } from './shadow-counters.ts';
import { endpointOf, fieldIgnorer, maskUrl, maskValue, pathMatcher } from './shadow-match.ts';

const json = (v: unknown): CapturedResponse => ({ status: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(v)) });

/** One copy as the mirror records it: the user's answer, the new release's, a second stable one. */
function compare(run: ShadowRun, endpoint: string, user: unknown, fresh: unknown, stable: unknown, ignore: string[] = []): void {
  const isIgnored = fieldIgnorer(ignore);
  run.record({
    endpoint, url: '/x?token=abc',
    real: diffResponses(json(user), json(fresh), []).filter((d) => !isIgnored(d.field)),
    noise: diffResponses(json(user), json(stable), []),
  });
}

describe('noise learned from two stable answers', () => {
  it('does not count a field that also differs between two stable answers, even for requests compared before it was learned', () => {
    const run = new ShadowRun('1:0');
    // The first copy's two stable answers happen to agree on the timestamp (same millisecond).
    compare(run, 'GET /a', { at: 1, v: 1 }, { at: 2, v: 1 }, { at: 1, v: 1 });
    for (let i = 0; i < 9; i++) compare(run, 'GET /a', { at: 10 + i, v: 1 }, { at: 20 + i, v: 1 }, { at: 30 + i, v: 1 });
    const s = run.toJSON();
    expect(s.compared).toBe(10);
    expect(s.differing).toBe(0);
    expect(s.endpoints['GET /a']!.fields['/body/at']).toEqual({ differing: 10, noise: 9 });
    expect(s.endpoints['GET /a']!.examples).toEqual([]);
  });

  it('counts a request with one real difference among noisy ones, and keeps a masked example of it', () => {
    const run = new ShadowRun('1:0');
    for (let i = 0; i < 4; i++) compare(run, 'GET /price/:id', { at: i, price: 10 }, { at: i + 1, price: 12 }, { at: i + 2, price: 10 });
    compare(run, 'GET /price/:id', { at: 9, price: 10 }, { at: 10, price: 10 }, { at: 11, price: 10 });
    const s = run.toJSON();
    expect(s).toMatchObject({ compared: 5, differing: 4 });
    expect(s.endpoints['GET /price/:id']!.examples[0]).toEqual({ endpoint: 'GET /price/:id', url: '/x?token=***', field: '/body/price', stable: '10', candidate: '12' });
  });

  it('leaves ignored fields out of the count', () => {
    const run = new ShadowRun('1:0');
    compare(run, 'GET /a', { meta: { v: 1 }, x: 1 }, { meta: { v: 2 }, x: 1 }, { meta: { v: 1 }, x: 1 }, ['/body/meta']);
    expect(run.toJSON().differing).toBe(0);
  });

  it('keeps at most 100 endpoints, the rest under (other)', () => {
    const run = new ShadowRun('1:0');
    for (let i = 0; i < 150; i++) compare(run, `GET /e${i}`, { v: 1 }, { v: 2 }, { v: 1 });
    const s = run.toJSON();
    expect(Object.keys(s.endpoints)).toHaveLength(101);
    expect(s.endpoints['(other)']!.compared).toBe(50);
    expect(s.differing).toBe(150);
  });
});

describe('a run after its step', () => {
  it('is kept for the server to read, then expires', () => {
    const run = new ShadowRun('1:0');
    expect(run.isExpired(Date.now() + 3_600_000)).toBe(false); // still running
    run.endedAt = 1_000;
    expect(run.isExpired(1_000 + KEEP_ENDED_RUN_MS)).toBe(false);
    expect(run.isExpired(1_001 + KEEP_ENDED_RUN_MS)).toBe(true);
  });
});

describe('shadow matching', () => {
  it('copies paths by prefix, exact path and one-segment wildcard', () => {
    const m = pathMatcher(['/api/*', '/health', '/items/*/price']);
    expect(['/api', '/api/x/y', '/health', '/items/3/price'].map(m)).toEqual([true, true, true, true]);
    expect(['/apix', '/health/x', '/items/3/stock', '/'].map(m)).toEqual([false, false, false, false]);
    expect(pathMatcher(['/*'])('/anything/at/all')).toBe(true);
  });

  it('ignores a field, what is under it, and * segments', () => {
    const ig = fieldIgnorer(['/body/updatedAt', '/body/items/*/id', '/headers/etag']);
    expect(['/body/updatedAt', '/body/updatedAt/x', '/body/items/4/id', '/headers/etag'].map(ig)).toEqual([true, true, true, true]);
    expect(['/body/items/4/price', '/body/updated', '/status'].map(ig)).toEqual([false, false, false]);
  });

  it('folds ids in an endpoint', () => {
    expect(endpointOf('GET', '/api/items/42')).toBe('GET /api/items/:id');
    expect(endpointOf('GET', '/u/3f2504e0-4f89-11d3-9a0c-0305e82c3301/orders')).toBe('GET /u/:id/orders');
    expect(endpointOf('HEAD', '/api/items')).toBe('HEAD /api/items');
  });

  it('masks secret-looking fields, tokens and query values, and cuts long values', () => {
    expect(maskValue('/body/user/apiKey', '"k-123"')).toBe('***');
    expect(maskValue('/body/sessionId', '"abc"')).toBe('***');
    expect(maskValue('/body/note', '"eyJhbGciOiJIUzI1NiJ9.e30.x"')).toBe('***');
    expect(maskValue('/body/text', 'x'.repeat(200))).toMatch(/^x{80}… \(200 chars\)$/);
    expect(maskUrl('/a?token=s3cr3t&page=2')).toBe('/a?token=***&page=***');
  });
});
