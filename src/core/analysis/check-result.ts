// The verdict of one check and of a whole analysis, with the figures behind it, so
// the UI and the audit log can say exactly why a canary was stopped or promoted.

import type { AnalysisDecision, SequentialTestResult } from './sequential-test.ts';

/**
 * How a figure was judged:
 * - 'sequential-two-sample' / 'sequential-one-sample': an always-valid test
 *   (sequential-test.ts) whose false-fail rate holds under continuous monitoring;
 * - 'quantile-interval': latency quantiles compared with order-statistic intervals
 *   (latency-checks.ts), no anytime guarantee;
 * - 'quantile-point': latency quantiles given as numbers, compared as they are;
 * - 'gauge': a level (CPU, RSS) compared with its limit;
 * - 'count': a count (requests, restarts) compared with its limit.
 */
export type CheckMethod = 'sequential-two-sample' | 'sequential-one-sample' | 'quantile-interval' | 'quantile-point' | 'gauge' | 'count';

export type CheckUnit = 'fraction' | 'ms' | 'percent' | 'MB' | 'count';

export interface CheckEvidence {
  /** ln of the e-value against "within the limit"; fails at ≥ threshold = ln(1/alpha). */
  logLikelihoodRatio: number;
  threshold: number;
  /** ln of the e-value against "beyond the limit"; passes at ≥ passThreshold = ln(1/beta). */
  passLogLikelihoodRatio: number;
  passThreshold: number;
  /** This check's share of the analysis's alpha. */
  alpha: number;
}

export interface CheckResult {
  /** The limit as written in slipway.yaml, e.g. 'latency.p99.max_ratio_to_stable'. */
  check: string;
  decision: AnalysisDecision;
  /** The canary's figure in `unit`; null when not measured yet. */
  observed: number | null;
  /** Stable's figure, for relative checks; null otherwise. */
  stable: number | null;
  /** The figure the canary is held to (for relative checks: derived from stable's); null when unknown yet. */
  threshold: number | null;
  unit: CheckUnit;
  method: CheckMethod;
  evidence?: CheckEvidence;
  reason: string;
}

export interface AnalysisResult {
  /** 'fail' if any check fails; 'pass' if every check passes; else 'inconclusive'. */
  decision: AnalysisDecision;
  checks: CheckResult[];
  /** One line: the failing checks, else the undecided ones, else that all passed (and the long requests left out, if any). */
  reason: string;
  /**
   * Requests past proxy.long_request in each window: judged in the error rate, left
   * out of latency. Absent when neither release had one.
   */
  longRequests?: { new: { requests: number; errors: number }; stable: { requests: number; errors: number } };
}

/** The evidence part of a CheckResult, from a sequential test's answer. */
export function evidenceOf(r: SequentialTestResult, alpha: number): CheckEvidence {
  return {
    logLikelihoodRatio: r.logLikelihoodRatio,
    threshold: r.threshold,
    passLogLikelihoodRatio: r.passLogLikelihoodRatio,
    passThreshold: r.passThreshold,
    alpha,
  };
}
