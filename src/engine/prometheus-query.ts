// Analysis checks answered by Prometheus: an instant query over its HTTP API, the
// answer parsed at this edge, the value held to the check's bounds.

import { z } from 'zod';
import type { CheckResult } from '../core/analysis/index.ts';
import type { PrometheusCheck } from '../core/service-config.ts';

const sample = z.tuple([z.number(), z.string()]);
const answerSchema = z.object({
  status: z.enum(['success', 'error']),
  error: z.string().optional(),
  data: z
    .object({
      resultType: z.enum(['vector', 'scalar', 'matrix', 'string']),
      result: z.union([z.array(z.object({ metric: z.record(z.string(), z.string()), value: sample })), sample, z.array(z.unknown())]),
    })
    .optional(),
});

/** The query's value: a scalar, or the sum over a vector's series; null when it has no series. */
export async function queryPrometheus(check: PrometheusCheck, timeoutMs = 3000): Promise<number | null> {
  const url = `${check.url}/api/v1/query?query=${encodeURIComponent(check.query)}`;
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const parsed = answerSchema.safeParse(await res.json());
  if (!parsed.success) throw new Error(`unexpected answer from ${check.url}: ${parsed.error.issues[0]?.message ?? 'bad JSON'}`);
  const a = parsed.data;
  if (a.status !== 'success' || !a.data) throw new Error(`Prometheus refused "${check.query}": ${a.error ?? res.status}`);
  if (a.data.resultType === 'scalar') return Number((a.data.result as [number, string])[1]);
  if (a.data.resultType !== 'vector') throw new Error(`"${check.query}" gives a ${a.data.resultType}; use a query that gives one number`);
  const series = a.data.result as { value: [number, string] }[];
  if (series.length === 0) return null;
  return series.reduce((sum, s) => sum + Number(s.value[1]), 0);
}

export function judgePrometheus(check: PrometheusCheck, value: number | null, error: string | null): CheckResult {
  const base = { check: `prometheus.${check.name}`, stable: null, unit: 'count' as const, method: 'gauge' as const };
  if (error !== null || value === null || Number.isNaN(value)) {
    return { ...base, decision: 'inconclusive', observed: null, threshold: check.max ?? check.min ?? null, reason: error ?? `"${check.query}" returned no series yet` };
  }
  if (check.max !== undefined && value > check.max) {
    return { ...base, decision: 'fail', observed: value, threshold: check.max, reason: `${check.name}: ${value} is above the max ${check.max} (${check.query})` };
  }
  if (check.min !== undefined && value < check.min) {
    return { ...base, decision: 'fail', observed: value, threshold: check.min, reason: `${check.name}: ${value} is below the min ${check.min} (${check.query})` };
  }
  return { ...base, decision: 'pass', observed: value, threshold: check.max ?? check.min ?? null, reason: `${check.name}: ${value} is within bounds` };
}
