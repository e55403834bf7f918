// The Prometheus part of every analysis: each query asked at most every 2 s in the
// background (never awaited by a tick), its latest answer held to the check's bounds.

import type { AnalysisResult, CheckResult } from '../core/analysis/index.ts';
import type { AnalysisConfig } from '../core/service-config.ts';
import type { Clock } from './ports.ts';
import { judgePrometheus, queryPrometheus } from './prometheus-query.ts';

const PROMETHEUS_EVERY_MS = 2000;

interface Answer {
  value: number | null;
  error: string | null;
  askedAt: number;
}

export class PrometheusChecks {
  /** Per query: its last answer (and when it was asked for), and whether a newer question is out. */
  private readonly cache = new Map<string, { answer: Answer | null; pending: boolean }>();

  constructor(private readonly clock: Clock) {}

  /** `since`: when the analysis began; only answers asked for after it count. */
  addTo(result: AnalysisResult, config: AnalysisConfig, since: number): AnalysisResult {
    if (config.prometheus.length === 0) return result;
    const checks = [...result.checks, ...config.prometheus.map((c) => this.check(c, since))];
    const failed = checks.filter((c) => c.decision === 'fail');
    const open = checks.filter((c) => c.decision === 'inconclusive');
    const decision = failed.length ? 'fail' : open.length ? 'inconclusive' : 'pass';
    const reason = failed.length ? failed.map((c) => c.reason).join('; ') : open.length ? open.map((c) => c.reason).join('; ') : 'every check passed';
    return { decision, checks, reason };
  }

  private check(check: AnalysisConfig['prometheus'][number], since: number): CheckResult {
    const key = `${check.url}\u0000${check.query}`;
    const now = this.clock.now();
    let entry = this.cache.get(key);
    if (!entry) this.cache.set(key, (entry = { answer: null, pending: false }));
    const last = entry.answer;
    if (!entry.pending && (last === null || now - last.askedAt >= PROMETHEUS_EVERY_MS || last.askedAt < since)) {
      entry.pending = true;
      const e = entry;
      queryPrometheus(check)
        .then((value) => (e.answer = { value, error: null, askedAt: now }))
        .catch((err: Error) => (e.answer = { value: null, error: `Prometheus at ${check.url}: ${err.message}`, askedAt: now }))
        .finally(() => (e.pending = false));
    }
    // An answer to a question asked before this analysis began (the last rollout's,
    // say) says nothing about the release now judged: wait for one asked since.
    const a = entry.answer;
    if (a === null || a.askedAt < since) return judgePrometheus(check, null, `waiting for Prometheus at ${check.url} to answer`);
    return judgePrometheus(check, a.value, a.error);
  }
}
