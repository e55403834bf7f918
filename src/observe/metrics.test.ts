import { describe, expect, it } from 'vitest';
import { createHistogram, recordMs } from '../core/latency-histogram.ts';
import { promtoolProblems, sampleSum } from '../../test/support/prom-text.ts';
import { observePipelineStage, rebucket, renderMetrics, setMetricsSource, LATENCY_BUCKETS_S } from './metrics.ts';

describe('metrics', () => {
  it('renders router counts as a Prometheus histogram whose buckets never understate latency', async () => {
    const latency = createHistogram();
    for (const ms of [1, 3, 7, 40, 40, 90, 400, 3000, 20_000]) recordMs(latency, ms);
    setMetricsSource({
      rolloutPhaseCounts: () => [{ env: 'prod', phase: 'succeeded', count: 3 }],
      instanceCounts: () => [{ env: 'prod', release: 2, state: 'ready', count: 2 }],
      routerCounts: () => new Map([['prod', new Map([['2', { requests: 9, status: { '2xx': 8, '5xx': 1 }, latency }]])]]),
    });
    observePipelineStage({ stage: 'build', outcome: 'succeeded', seconds: 12 });
    const { text, contentType } = await renderMetrics();
    setMetricsSource(null);
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
});
