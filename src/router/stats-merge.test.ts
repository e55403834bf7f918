// The sum of several router workers' counters (stats-merge.ts): what /stats answers.

import { describe, expect, it } from 'vitest';
import { createHistogram, histogramCount, recordMs } from '../core/latency-histogram.ts';
import { ReleaseCounters, withKeeperOutcomes, type ListenerStatsJson, type ReleaseStatsJson, type RouterStatsJson } from './router-stats.ts';
import { mergeRouterStats, retiredPart } from './stats-merge.ts';

function workerStats(o: { requests: number; latencyMs: number; inflight: number; health: 'in' | 'ejected' | 'trial' }): RouterStatsJson {
  const r = new ReleaseCounters();
  for (let i = 0; i < o.requests; i++) r.record(200, o.latencyMs);
  return {
    startedAt: 'worker',
    environments: { web: { r1: r.toJSON() } },
    unrouted: { web: 1 },
    gated: { web: { maintenance: 0, held: 2, holdQueueFull: 0 } },
    refused: {},
    backends: { b1: { inflight: o.inflight, upgraded: 0, requests: o.requests, health: o.health } },
    listeners: {},
  };
}

describe('mergeRouterStats', () => {
  it('adds counters, latency histograms and in-flight counts, keeps the worst health and the router\'s start time', () => {
    const merged = mergeRouterStats([workerStats({ requests: 3, latencyMs: 5, inflight: 1, health: 'in' }), workerStats({ requests: 2, latencyMs: 500, inflight: 4, health: 'ejected' })], 'keeper');
    const want = createHistogram();
    for (const ms of [5, 5, 5, 500, 500]) recordMs(want, ms);
    expect(merged.startedAt).toBe('keeper');
    expect(merged.environments.web!.r1!.requests).toBe(5);
    expect(merged.environments.web!.r1!.status['2xx']).toBe(5);
    expect(merged.environments.web!.r1!.latency).toEqual(want);
    expect(merged.backends.b1).toEqual({ inflight: 5, upgraded: 0, requests: 5, health: 'ejected' });
    // On trial in one worker (no request since its cool-down) and back in another: it answers, so it is in.
    const trial = mergeRouterStats([workerStats({ requests: 1, latencyMs: 5, inflight: 0, health: 'trial' }), workerStats({ requests: 9, latencyMs: 5, inflight: 0, health: 'in' })], 'keeper');
    expect(trial.backends.b1!.health).toBe('in');
    const onlyTrial = mergeRouterStats([workerStats({ requests: 1, latencyMs: 5, inflight: 0, health: 'trial' }), workerStats({ requests: 9, latencyMs: 5, inflight: 0, health: 'trial' })], 'keeper');
    expect(onlyTrial.backends.b1!.health).toBe('trial');
    expect(merged.unrouted.web).toBe(2);
    expect(merged.gated.web!.held).toBe(4);
  });

  it('adds long requests and each listener\'s PROXY protocol counts across workers; a worker from before them adds nothing', () => {
    const part = (longRequests: number, accepted: number): RouterStatsJson => {
      const r = new ReleaseCounters();
      r.record(200, 5);
      for (let i = 0; i < longRequests; i++) r.recordLong(i === 0 ? 502 : 200, false);
      const proxyProtocol = { accepted, local: 1, untrusted: 2, invalid: 0, timeout: 0 };
      return { ...workerStats({ requests: 0, latencyMs: 5, inflight: 0, health: 'in' }), environments: { web: { r1: r.toJSON() } }, listeners: { '127.0.0.1:80': { unknownHost: 0, unknownPath: 0, redirected: 0, refused: { max_body: 0, idle_timeout: 0, max_header_size: 0, bad_request: 0 }, proxyProtocol } } };
    };
    const old = part(0, 0);
    delete (old.environments.web!.r1 as Partial<ReleaseStatsJson>).long;
    delete (old.listeners['127.0.0.1:80'] as Partial<ListenerStatsJson>).proxyProtocol;
    const merged = mergeRouterStats([part(3, 5), part(2, 1), old], 'keeper');
    const r1 = merged.environments.web!.r1!;
    expect(r1.long).toEqual({ requests: 5, errors: 2 });
    // In requests and status (their errors count), not in latency.
    expect(r1.requests).toBe(8);
    expect(r1.status['5xx']).toBe(2);
    expect(histogramCount(r1.latency)).toBe(3);
    expect(merged.listeners['127.0.0.1:80']!.proxyProtocol).toEqual({ accepted: 6, local: 2, untrusted: 4, invalid: 0, timeout: 0 });
  });

  it('adds what became of requests picked for recording across workers, an exited one\'s included; a worker from before these counts adds nothing', () => {
    const part = (kept: number, tooLarge: number): RouterStatsJson => ({
      ...workerStats({ requests: 0, latencyMs: 5, inflight: 0, health: 'in' }),
      recorded: { web: { kept, too_large: tooLarge, not_text: 0, too_slow: 1, queue_full: 0, thread_failed: 0 } },
    });
    const old = workerStats({ requests: 1, latencyMs: 5, inflight: 0, health: 'in' });
    const merged = mergeRouterStats([part(4, 1), retiredPart(part(6, 0)), old], 'keeper');
    expect(merged.recorded).toEqual({ web: { kept: 10, too_large: 1, not_text: 0, too_slow: 2, queue_full: 0, thread_failed: 0 } });
    expect(mergeRouterStats([old], 'keeper').recorded).toBeUndefined();
  });

  it("counts each line handed on by what the keeper did with it, in place of the workers' kept, per environment", () => {
    const part = (kept: number, o: { tooLarge?: number; notText?: number } = {}): RouterStatsJson => ({
      ...workerStats({ requests: 0, latencyMs: 5, inflight: 0, health: 'in' }),
      recorded: { web: { kept, too_large: o.tooLarge ?? 0, not_text: o.notText ?? 0, too_slow: 1, queue_full: 2, thread_failed: 0 } },
    });
    const workers = mergeRouterStats([part(4, { tooLarge: 1 }), retiredPart(part(6)), part(3, { notText: 1 })], 'keeper').recorded;
    // 13 lines handed on, 2 of them still on their way (counted by neither yet); one of web's was lost with a killed worker's batch.
    const keeper = {
      web: { kept: 5, too_large: 1, dropped_overflow: 3, dropped_stopped: 1, dropped_write_failed: 0 },
      api: { kept: 0, too_large: 0, dropped_overflow: 0, dropped_stopped: 2, dropped_write_failed: 0 },
    };
    expect(withKeeperOutcomes(workers, keeper)).toEqual({
      web: { kept: 5, too_large: 2, not_text: 1, too_slow: 3, queue_full: 6, thread_failed: 0, dropped_overflow: 3, dropped_stopped: 1, dropped_write_failed: 0 },
      api: { kept: 0, too_large: 0, not_text: 0, too_slow: 0, queue_full: 0, thread_failed: 0, dropped_overflow: 0, dropped_stopped: 2, dropped_write_failed: 0 },
    });
    // Lines handed on that the keeper has not settled yet are kept by no one.
    expect(withKeeperOutcomes(workers, {})!['web']!.kept).toBe(0);
    expect(withKeeperOutcomes(undefined, {})).toBeUndefined();
  });

  it('keeps what an exited worker counted, without its in-flight backends, so totals never go down', () => {
    const gone = workerStats({ requests: 7, latencyMs: 5, inflight: 3, health: 'in' });
    const merged = mergeRouterStats([retiredPart(gone), workerStats({ requests: 1, latencyMs: 5, inflight: 0, health: 'in' })], 'keeper');
    expect(merged.environments.web!.r1!.requests).toBe(8);
    expect(merged.backends.b1!.inflight).toBe(0);
  });
});
