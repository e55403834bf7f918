// Simulated canary traffic for the tests and bench/analysis-aa-bench.ts: requests
// split at random by weight (as the router's picker does), each failing
// independently, and the analysis evaluated once per simulated second on the
// cumulative counts, as the server does. Deterministic for a given seed; the
// controller itself never uses this file.

import type { AnalysisSpec } from './analysis-spec.ts';
import { evaluateAnalysis } from './checks.ts';

/** mulberry32: a tiny seeded PRNG returning [0, 1); plenty for simulations, not for secrets. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A Binomial(n, p) draw by skipping geometric gaps between successes: the cost is
 * about n·min(p, 1−p) draws, which is small for error rates.
 */
export function sampleBinomial(random: () => number, n: number, p: number): number {
  if (n <= 0 || p <= 0) return 0;
  if (p >= 1) return n;
  if (p > 0.5) return n - sampleBinomial(random, n, 1 - p);
  const logMiss = Math.log(1 - p);
  let count = 0;
  let position = 0;
  for (;;) {
    // Trials up to and including the next error; 1 − random() is in (0, 1].
    position += Math.floor(Math.log(1 - random()) / logMiss) + 1;
    if (position > n) return count;
    count++;
  }
}

export interface CanaryScenario {
  requestsPerSecond: number;
  /** Share of requests routed to the canary, 0..1. */
  canaryWeight: number;
  stableErrorRate: number;
  newErrorRate: number;
  /** How long the analysis runs, checked once per second. */
  seconds: number;
}

export interface SimulatedRun {
  /** Second (1-based) at which the analysis first failed; null if it never did. */
  failedAtSecond: number | null;
  /** Second at which it first passed; null if it never did. */
  passedAtSecond: number | null;
  /** Highest ln E of harm any sequential check reached (fail at ln(1/alpha_check)); shows how near a false fail came. */
  peakHarmLogLR: number;
  /** Counts when the run ended: at the failure, at the pass if stopping there, else at the end. */
  newRequests: number;
  newErrors: number;
  stableRequests: number;
  stableErrors: number;
}

export interface SimulateRunInput {
  scenario: CanaryScenario;
  spec: AnalysisSpec;
  random: () => number;
  /** Stop at the first pass, as a rollout would; by default runs on, to see any later false fail. */
  isStoppingAtPass?: boolean;
}

export function simulateAnalysisRun({ scenario, spec, random, isStoppingAtPass = false }: SimulateRunInput): SimulatedRun {
  const run: SimulatedRun = { failedAtSecond: null, passedAtSecond: null, peakHarmLogLR: -Infinity, newRequests: 0, newErrors: 0, stableRequests: 0, stableErrors: 0 };
  for (let second = 1; second <= scenario.seconds; second++) {
    const toNew = sampleBinomial(random, scenario.requestsPerSecond, scenario.canaryWeight);
    const toStable = scenario.requestsPerSecond - toNew;
    run.newRequests += toNew;
    run.newErrors += sampleBinomial(random, toNew, scenario.newErrorRate);
    run.stableRequests += toStable;
    run.stableErrors += sampleBinomial(random, toStable, scenario.stableErrorRate);
    const result = evaluateAnalysis({
      spec,
      newWindow: { requests: run.newRequests, errors: run.newErrors },
      stableWindow: { requests: run.stableRequests, errors: run.stableErrors },
    });
    for (const c of result.checks) {
      if (c.evidence !== undefined && c.evidence.logLikelihoodRatio > run.peakHarmLogLR) run.peakHarmLogLR = c.evidence.logLikelihoodRatio;
    }
    if (result.decision === 'fail') {
      run.failedAtSecond = second;
      return run;
    }
    if (result.decision === 'pass' && run.passedAtSecond === null) {
      run.passedAtSecond = second;
      if (isStoppingAtPass) return run;
    }
  }
  return run;
}
