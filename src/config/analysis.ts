// The `analysis:` sections of slipway.yaml (per environment, and per canary step),
// translated into the AnalysisSpec core/analysis evaluates. Rates are written as
// percentages ("1%", "0.5%") so that 0.5 can never be read as 50% by mistake.

import { z } from 'zod';
import { DEFAULT_ANALYSIS, type AnalysisSpec, type LatencyLimit, type LatencyQuantile } from '../core/analysis/index.ts';
import type { AnalysisConfig, PrometheusCheck } from '../core/service-config.ts';
import { durationMs, field, matching, wholeNumber } from './fields.ts';
import { section } from './section.ts';

export const DEFAULT_PROMETHEUS_URL = 'http://127.0.0.1:9090';
export const DEFAULT_WATCH = '2m';

/** "1%" → 0.01; a percentage from 0 to 100. */
export const rate = field('a percentage such as 1% or 0.5%', (v) => {
  const m = typeof v === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(v) : null;
  const pct = m ? Number(m[1]) : NaN;
  return pct >= 0 && pct <= 100 ? pct / 100 : null;
});

/** alpha: above 0 and at most 20%, or the test's guarantee means little. */
const falseAlarmRate = field('a percentage above 0% and at most 20%, such as 1%', (v) => {
  const m = typeof v === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(v) : null;
  const pct = m ? Number(m[1]) : NaN;
  return pct > 0 && pct <= 20 ? pct / 100 : null;
});

const ratio = field('a ratio above 1, such as 1.5', (v) => (typeof v === 'number' && v > 1 && Number.isFinite(v) ? v : null));
const positive = field('a number above 0', (v) => (typeof v === 'number' && v > 0 && Number.isFinite(v) ? v : null));
const anyNumber = field('a number', (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null));

const latencyLimit = section({ max: durationMs.optional(), max_ratio_to_stable: ratio.optional() })
  .transform((l): LatencyLimit => ({ ...(l.max !== undefined ? { maxMs: l.max } : {}), ...(l.max_ratio_to_stable !== undefined ? { maxRatioToStable: l.max_ratio_to_stable } : {}) }));

const prometheusCheck = section({
  name: matching('a short name (letters, digits, - and _)', /^[A-Za-z0-9_-]{1,64}$/),
  query: matching('a PromQL query', /\S/),
  url: matching('the Prometheus base URL, e.g. http://127.0.0.1:9090', /^https?:\/\/[^\s/]+(\/\S*)?$/).optional(),
  max: anyNumber.optional(),
  min: anyNumber.optional(),
})
  .refine((c) => c.max !== undefined || c.min !== undefined, { error: 'give max or min (or both) for the query value' })
  .transform((c): PrometheusCheck => ({
    name: c.name, query: c.query, url: (c.url ?? DEFAULT_PROMETHEUS_URL).replace(/\/+$/, ''),
    ...(c.max !== undefined ? { max: c.max } : {}), ...(c.min !== undefined ? { min: c.min } : {}),
  }));

export const analysisSection = section({
  min_requests: wholeNumber(1).optional(),
  false_alarm_rate: falseAlarmRate.optional(),
  error_rate: section({ max: rate.optional(), max_increase_over_stable: rate.optional() }).optional(),
  latency: section({ p50: latencyLimit.optional(), p90: latencyLimit.optional(), p99: latencyLimit.optional() }).optional(),
  cpu: section({ max_percent: positive.optional(), max_ratio_to_stable: ratio.optional() }).optional(),
  memory: section({ max_mb: positive.optional(), max_ratio_to_stable: ratio.optional() }).optional(),
  restarts: section({ max: wholeNumber(0) }).optional(),
  deadline: durationMs.optional(),
  inconclusive: field('one of wait, fail, pass', (v) => (v === 'wait' || v === 'fail' || v === 'pass' ? v : null)).optional(),
  prometheus: z.array(prometheusCheck).optional(),
}).transform(toAnalysisConfig);

type AnalysisInput = z.input<typeof analysisSection> & Record<string, unknown>;

/**
 * Written limits replace the defaults of their check; a section that names no
 * error-rate check still keeps the default error-rate protection.
 */
function toAnalysisConfig(a: {
  min_requests?: number; false_alarm_rate?: number; deadline?: number; inconclusive?: 'wait' | 'fail' | 'pass';
  error_rate?: { max?: number; max_increase_over_stable?: number };
  latency?: Partial<Record<LatencyQuantile, LatencyLimit | undefined>>;
  cpu?: { max_percent?: number; max_ratio_to_stable?: number };
  memory?: { max_mb?: number; max_ratio_to_stable?: number };
  restarts?: { max: number };
  prometheus?: PrometheusCheck[];
}): AnalysisConfig {
  const errorRate = a.error_rate
    ? { ...(a.error_rate.max !== undefined ? { max: a.error_rate.max } : {}), ...(a.error_rate.max_increase_over_stable !== undefined ? { maxIncreaseOverStable: a.error_rate.max_increase_over_stable } : {}) }
    : { ...DEFAULT_ANALYSIS.errorRate };
  const latency = a.latency ? Object.fromEntries(Object.entries(a.latency).filter(([, v]) => v !== undefined)) as Partial<Record<LatencyQuantile, LatencyLimit>> : undefined;
  const spec: AnalysisSpec = {
    minRequests: a.min_requests ?? DEFAULT_ANALYSIS.minRequests,
    alpha: a.false_alarm_rate ?? DEFAULT_ANALYSIS.alpha,
    beta: DEFAULT_ANALYSIS.beta,
    inconclusive: a.inconclusive ?? DEFAULT_ANALYSIS.inconclusive,
    errorRate,
    ...(latency && Object.keys(latency).length ? { latency } : {}),
    ...(a.cpu ? { cpu: { ...(a.cpu.max_percent !== undefined ? { maxPercent: a.cpu.max_percent } : {}), ...(a.cpu.max_ratio_to_stable !== undefined ? { maxRatioToStable: a.cpu.max_ratio_to_stable } : {}) } } : {}),
    ...(a.memory ? { memory: { ...(a.memory.max_mb !== undefined ? { maxMb: a.memory.max_mb } : {}), ...(a.memory.max_ratio_to_stable !== undefined ? { maxRatioToStable: a.memory.max_ratio_to_stable } : {}) } } : {}),
    // Health protection by default: a new instance that served and then died or went
    // unhealthy during the rollout stops it.
    restarts: a.restarts ?? { max: 0 },
  };
  return { spec, deadlineMs: a.deadline ?? null, prometheus: a.prometheus ?? [] };
}

/** What a user who writes no analysis gets: error-rate protection (and health, by the reconciler). */
export function defaultAnalysisConfig(): AnalysisConfig {
  return toAnalysisConfig({});
}

export type { AnalysisInput };
