import { describe, expect, it } from 'vitest';
import { createHistogram, recordMs } from '../core/latency-histogram.ts';
import { promtoolProblems, sampleSum } from '../../test/support/prom-text.ts';
import { rebucket, ServerMetrics, LATENCY_BUCKETS_S } from './metrics.ts';

describe('metrics', () => {
  it('renders router counts as a Prometheus histogram whose buckets never understate latency', async () => {
    const latency = createHistogram();
    for (const ms of [1, 3, 7, 40, 40, 90, 400, 3000, 20_000]) recordMs(latency, ms);
    const metrics = new ServerMetrics();
    metrics.setSource({
      rolloutPhaseCounts: () => [{ env: 'prod', phase: 'succeeded', count: 3 }],
      instanceCounts: () => [{ env: 'prod', release: 2, state: 'ready', count: 2 }],
      routerCounts: () => new Map([['prod', new Map([['2', { requests: 9, status: { '2xx': 8, '5xx': 1 }, latency }]])]]),
    });
    metrics.observePipelineStage({ stage: 'build', outcome: 'succeeded', seconds: 12 });
    const { text, contentType } = await metrics.render();
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(promtoolProblems(text)).toBe('');
    const h = 'slipway_router_request_duration_seconds';
    const at = (le: string) => sampleSum(text, `${h}_bucket`, { env: 'prod', release: '2', le });
    expect(sampleSum(text, `${h}_count`, { env: 'prod', release: '2' })).toBe(9);
    expect(at('0.005')).toBe(2); // 1 ms and 3 ms
    expect(at('0.05')).toBe(5);
    expect(at('10')).toBe(8); // 20 s is only under +Inf
    expect(at('+Inf')).toBe(9);
    expect(sampleSum(text, 'slipway_router_errors_total', { env: 'prod', release: '2' })).toBe(1);
    expect(sampleSum(text, 'slipway_router_requests_total', { env: 'prod', release: '2' })).toBe(9);
    expect(sampleSum(text, 'slipway_instances', { env: 'prod', release: '2', state: 'ready' })).toBe(2);
    expect(sampleSum(text, 'slipway_pipeline_stage_duration_seconds_count', { stage: 'build', outcome: 'succeeded' })).toBe(1);
    expect(rebucket(latency)).toHaveLength(LATENCY_BUCKETS_S.length);
  });

  it('counts TLS renewal failures by environment and source, and gives each certificate\'s expiry', async () => {
    const metrics = new ServerMetrics();
    const notAfterMs = Date.parse('2027-01-31T12:00:00Z');
    metrics.setSource({
      rolloutPhaseCounts: () => [],
      instanceCounts: () => [],
      routerCounts: () => new Map(),
      tlsCertificates: () => [{ env: 'shop/production', names: ['shop.example.com', 'www.shop.example.com'], notAfterMs }],
    });
    const failed = { id: 1, ts: 0, type: 'tls.renewal_failed', env: 'shop/production', rolloutId: null, level: 'error', message: 'x', data: { source: 'acme', error: 'CA down' } } as const;
    metrics.recordEvent(failed);
    metrics.recordEvent({ ...failed, id: 2 });
    metrics.recordEvent({ ...failed, id: 3, env: 'blog/production', data: { source: 'files', error: 'no file' } });
    const { text } = await metrics.render();
    expect(promtoolProblems(text)).toBe('');
    expect(sampleSum(text, 'slipway_tls_renewal_failures_total', { env: 'shop/production', source: 'acme' })).toBe(2);
    expect(sampleSum(text, 'slipway_tls_renewal_failures_total', { env: 'blog/production', source: 'files' })).toBe(1);
    expect(sampleSum(text, 'slipway_tls_certificate_expiry_timestamp_seconds', { env: 'shop/production', names: 'shop.example.com,www.shop.example.com' })).toBe(notAfterMs / 1000);
  });

  it('gives requests picked for recording by environment and outcome, zeros too, and none from a router before these counts', async () => {
    const metrics = new ServerMetrics();
    const source = { rolloutPhaseCounts: () => [], instanceCounts: () => [], routerCounts: () => new Map() };
    metrics.setSource({ ...source, recordedRequests: () => new Map([['shop/production', { kept: 41, too_large: 3, not_text: 0, too_slow: 2, queue_full: 0, thread_failed: 1 }]]) });
    const { text } = await metrics.render();
    expect(promtoolProblems(text)).toBe('');
    const m = 'slipway_router_recorded_requests_total';
    expect(sampleSum(text, m, { env: 'shop/production', outcome: 'kept' })).toBe(41);
    expect(sampleSum(text, m, { env: 'shop/production', outcome: 'too_large' })).toBe(3);
    expect(sampleSum(text, m, { env: 'shop/production', outcome: 'thread_failed' })).toBe(1);
    // Present at 0, so rate() over it starts at the first scrape.
    expect(text).toContain(`${m}{env="shop/production",outcome="queue_full"} 0`);
    metrics.setSource(source);
    expect((await metrics.render()).text).not.toContain(`${m}{`);
  });

  it('each server counts in its own registry: two in one process do not add up', async () => {
    const a = new ServerMetrics();
    const b = new ServerMetrics();
    a.countRouteDriftRepair(['prod']);
    a.countNotification('failed');
    a.recordEvent({ id: 1, ts: 0, type: 'rollout.succeeded', env: 'prod', rolloutId: 1, level: 'info', message: 'ok', data: { kind: 'deploy' } });
    const [ta, tb] = [(await a.render()).text, (await b.render()).text];
    expect(sampleSum(ta, 'slipway_router_drift_repairs_total', { env: 'prod' })).toBe(1);
    expect(sampleSum(ta, 'slipway_rollouts_finished_total', { env: 'prod', kind: 'deploy', phase: 'succeeded' })).toBe(1);
    expect(sampleSum(tb, 'slipway_router_drift_repairs_total', { env: 'prod' })).toBe(0);
    expect(sampleSum(tb, 'slipway_notifications_total', { outcome: 'failed' })).toBe(0);
    expect(promtoolProblems(tb)).toBe('');
  });
});

