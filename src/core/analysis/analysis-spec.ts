// What an analysis step checks, as config/ hands it over after parsing slipway.yaml
// (keys there are snake_case: min_requests, error_rate.max_increase_over_stable,
// latency.p99.max_ratio_to_stable, cpu.max_percent, memory.max_mb, ...). Nothing
// here re-validates: the parser refuses bad values (the sequential tests still
// refuse an alpha or beta outside (0, 1), which would void their guarantee).

export type LatencyQuantile = 'p50' | 'p90' | 'p99';

/** The quantile each latency key stands for. */
export const LATENCY_QUANTILES: Readonly<Record<LatencyQuantile, number>> = { p50: 0.5, p90: 0.9, p99: 0.99 };

/**
 * What to do with a still-inconclusive analysis when its step's deadline passes.
 * The caller applies it (see decideAtDeadline): 'wait' holds the rollout for a person.
 */
export type InconclusivePolicy = 'wait' | 'fail' | 'pass';

export interface ErrorRateLimits {
  /** Highest acceptable error rate of the canary, as a fraction (0.01 = 1%). */
  max?: number;
  /** Highest acceptable increase over stable's error rate, in absolute terms (0.005 = +0.5 points). */
  maxIncreaseOverStable?: number;
}

export interface LatencyLimit {
  maxMs?: number;
  /** The canary's quantile may be at most this many times stable's. */
  maxRatioToStable?: number;
}

export interface AnalysisSpec {
  /** Requests each release must have seen before request-based checks decide anything. */
  minRequests: number;
  /**
   * Chance of failing a canary that is within every sequential limit, for the whole
   * analysis however often it is evaluated. Split evenly among the sequential checks.
   */
  alpha: number;
  /** Chance that a sequential check passes a canary that is just at its limit. */
  beta: number;
  inconclusive: InconclusivePolicy;
  errorRate?: ErrorRateLimits;
  latency?: Partial<Record<LatencyQuantile, LatencyLimit>>;
  cpu?: { maxPercent?: number; maxRatioToStable?: number };
  memory?: { maxMb?: number; maxRatioToStable?: number };
  /** Restarts of canary instances during the analysis. */
  restarts?: { max: number };
}

/**
 * The analysis of a step written as `analysis: {}`: stop a canary whose error rate
 * is clearly more than 1 point above stable's, with at most a 1% chance of stopping
 * a good one. Inconclusive waits for a person: with no evidence either way, neither
 * promoting nor rolling back is safe to do silently.
 */
export const DEFAULT_ANALYSIS: Readonly<AnalysisSpec> = Object.freeze({
  minRequests: 20,
  alpha: 0.01,
  beta: 0.05,
  inconclusive: 'wait',
  errorRate: Object.freeze({ maxIncreaseOverStable: 0.01 }),
});
