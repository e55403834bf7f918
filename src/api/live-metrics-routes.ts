// GET /api/environments/:env/metrics/live: the dashboard's live chart data, points of
// a few seconds each (live-metrics.ts). The 10-second history stays at .../metrics.

import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Engine } from '../engine/engine.ts';
import { LiveMetrics } from './live-metrics.ts';
import { parse } from './request-input.ts';
import { envParam, wholeNumber } from './schemas.ts';
import type { LiveMetricsJson } from './views.ts';

export const liveMetricsQuery = z.strictObject({
  /** Epoch ms: only points after it (a client passes the last ts it has). */
  after: wholeNumber(z.number().int().min(0)).default(0),
});

export function registerLiveMetricsRoutes(app: FastifyInstance, engine: Engine): LiveMetrics {
  const live = new LiveMetrics();
  engine.sampler.onSample(() => live.record(Date.now(), engine.sampler.allSnapshots()));
  app.get('/api/environments/:env/metrics/live', { config: { permission: 'read', input: { params: envParam, query: liveMetricsQuery }, summary: 'per-release requests, errors and p50/p99 over the last minutes, a point every 2 s' } }, async (req): Promise<LiveMetricsJson> => {
    const { env } = parse(envParam, req.params, 'path');
    const q = parse(liveMetricsQuery, req.query, 'query');
    return { env, intervalMs: live.pointIntervalMs, now: Date.now(), points: live.since(env, q.after) };
  });
  return live;
}
