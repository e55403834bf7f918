import { describe, expect, it } from 'vitest';
import { KEEP_UNROUTED_RELEASE_MS, RouterStats } from './router-stats.ts';

const routed = (entries: Record<string, string[]>) => new Map(Object.entries(entries).map(([env, rs]) => [env, new Set(rs)]));

describe('router stats: counters of releases no longer routed', () => {
  it('keeps a release unrouted for less than the grace period, then forgets it', () => {
    const stats = new RouterStats();
    stats.env('web/production').release('1').requests = 5;
    stats.env('web/production').release('2').requests = 7;
    stats.noteRouted(routed({ 'web/production': ['1', '2'] }), 0);
    stats.noteRouted(routed({ 'web/production': ['2'] }), 1_000);
    expect(Object.keys(stats.toJSON({}).environments['web/production']!)).toEqual(['1', '2']);
    // Release 1 was last routed at 0.
    stats.noteRouted(routed({ 'web/production': ['2'] }), KEEP_UNROUTED_RELEASE_MS);
    expect(Object.keys(stats.toJSON({}).environments['web/production']!)).toEqual(['1', '2']);
    stats.noteRouted(routed({ 'web/production': ['2'] }), KEEP_UNROUTED_RELEASE_MS + 1);
    const envs = stats.toJSON({}).environments['web/production']!;
    expect(Object.keys(envs)).toEqual(['2']);
    expect(envs['2']!.requests).toBe(7);
  });

  it('forgets the releases of an environment that left the table, and starts a returning release from zero', () => {
    const stats = new RouterStats();
    stats.env('web/staging').release('3').requests = 4;
    stats.noteRouted(routed({ 'web/staging': ['3'] }), 0);
    stats.noteRouted(routed({}), 1);
    stats.noteRouted(routed({}), KEEP_UNROUTED_RELEASE_MS + 2);
    expect(stats.toJSON({}).environments['web/staging']).toEqual({});
    expect(stats.env('web/staging').release('3').requests).toBe(0);
  });

  it('counts a release as routed from when it is first seen, even if it was created between two tables', () => {
    const stats = new RouterStats();
    stats.noteRouted(routed({ 'web/production': [] }), 0);
    stats.env('web/production').release('9').requests = 1;
    stats.noteRouted(routed({ 'web/production': [] }), KEEP_UNROUTED_RELEASE_MS);
    expect(stats.toJSON({}).environments['web/production']!['9']!.requests).toBe(1);
  });
});

describe('router stats: requests picked for recording', () => {
  it('reports the counts of environments that record, kept across recorders, and none for the others', () => {
    const stats = new RouterStats();
    stats.env('web/staging').unrouted = 1;
    const counts = stats.env('web/production').startRecording();
    counts.kept += 3;
    counts.too_large++;
    // A new table makes a new recorder, which counts on from the same figures.
    expect(stats.env('web/production').startRecording()).toBe(counts);
    counts.too_slow++;
    expect(stats.toJSON({}).recorded).toEqual({ 'web/production': { kept: 3, too_large: 1, not_text: 0, too_slow: 1, queue_full: 0, thread_failed: 0 } });
  });
});
