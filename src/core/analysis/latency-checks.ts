// Latency limits: `latency.pXX.max` (absolute) and `latency.pXX.max_ratio_to_stable`.
//
// Absolute limit, from a histogram: "p99 ≤ 500 ms" is the same statement as "at most
// 1% of requests are slower than 500 ms", so it is judged by the one-sample
// sequential test on the count of slow requests, with the same anytime guarantee as
// the error rate (under the same independence assumption, which latency under load
// bends more than errors do). The histogram's buckets straddle the limit, so 'fail'
// counts only buckets wholly above it and 'pass' counts every bucket reaching above
// it: bucketing can delay a decision, never cause a wrong one.
//
// Ratio to stable: the quantiles of both releases are compared only once each has
// minSamples(q) samples (min_requests, and at least 10 samples beyond the quantile,
// so one slow request cannot move it: 1000 for p99). Then:
//   fail when the canary's quantile, at the low end of its order-statistic interval,
//        is above ratio × stable's at the high end of its interval (z = 3);
//   pass when the canary's quantile ≤ ratio × stable's (no sign of harm);
//   else inconclusive (above the limit, but within sampling noise).
// The dead band between the two is what keeps a check from flapping between pass
// and fail as samples arrive. It is a fixed-sample rule looked at repeatedly, so no
// false-fail rate is promised; z = 3 keeps it rare. Ratios under ~1.1 are within the
// histogram's bucket resolution (±4.4% per quantile) and should not be configured.

import { bucketBoundsMs, histogramCount, quantileMs, type LatencyHistogram } from '../latency-histogram.ts';
import { LATENCY_QUANTILES, type LatencyLimit, type LatencyQuantile } from './analysis-spec.ts';
import type { AnalysisWindow } from './analysis-window.ts';
import type { CheckResult } from './check-result.ts';
import { DEFAULT_BETA, formatPct, maxRateEvidence } from './sequential-test.ts';

/** Width, in standard deviations of the rank, of the quantile intervals of ratio checks. */
export const QUANTILE_INTERVAL_Z = 3;

/** Samples a window needs before its q-quantile is compared: min_requests, and ≥ 10 beyond the quantile. */
export function minSamples(q: number, minRequests: number): number {
  return Math.max(minRequests, Math.ceil(10 / (1 - q) - 1e-9));
}

export interface LatencyChecksInput {
  quantile: LatencyQuantile;
  limit: LatencyLimit;
  newWindow: AnalysisWindow;
  stableWindow: AnalysisWindow;
  minRequests: number;
  /** This check's share of the analysis's alpha (absolute limits only). */
  alpha: number;
  beta?: number;
}

export function latencyChecks(input: LatencyChecksInput): CheckResult[] {
  const out: CheckResult[] = [];
  if (input.limit.maxMs !== undefined) out.push(latencyMaxCheck(input, input.limit.maxMs));
  if (input.limit.maxRatioToStable !== undefined) out.push(latencyRatioCheck(input, input.limit.maxRatioToStable));
  return out;
}

function ms(x: number | null): string {
  return x === null ? 'n/a' : `${x < 10 ? x.toFixed(2) : x.toFixed(0)} ms`;
}

/** Samples certainly above maxMs (buckets wholly above) and possibly above it (buckets reaching above). */
function slowCounts(h: LatencyHistogram, maxMs: number): { certain: number; possible: number } {
  let certain = 0;
  let possible = 0;
  for (const [k, n] of Object.entries(h.counts)) {
    const [low, high] = bucketBoundsMs(Number(k));
    if (low >= maxMs) certain += n;
    if (high > maxMs) possible += n;
  }
  return { certain, possible };
}

function latencyMaxCheck(input: LatencyChecksInput, maxMs: number): CheckResult {
  const { quantile, newWindow: w, minRequests, alpha } = input;
  const q = LATENCY_QUANTILES[quantile];
  const check = `latency.${quantile}.max`;
  const base = { check, stable: null, threshold: maxMs, unit: 'ms' as const };
  if (w.latency === undefined) {
    const observed = w.latencyQuantilesMs?.[quantile] ?? null;
    const need = minSamples(q, minRequests);
    if (observed === null) return { ...base, decision: 'inconclusive', observed, method: 'quantile-point', reason: `no ${quantile} measured for new` };
    if (w.requests < need) return { ...base, decision: 'inconclusive', observed, method: 'quantile-point', reason: `too few requests for ${quantile}: ${w.requests} of ${need}` };
    const decision = observed > maxMs ? 'fail' : 'pass';
    return { ...base, decision, observed, method: 'quantile-point', reason: `new ${quantile} ${ms(observed)} ${decision === 'fail' ? '>' : '≤'} limit ${ms(maxMs)}` };
  }
  const n = histogramCount(w.latency);
  const observed = quantileMs(w.latency, q);
  const beta = input.beta ?? DEFAULT_BETA;
  const threshold = Math.log(1 / alpha);
  const passThreshold = Math.log(1 / beta);
  const slow = slowCounts(w.latency, maxMs);
  const share = 1 - q;
  const failLogLR = maxRateEvidence({ trials: n, events: slow.certain, maxRate: share }).failLogLR;
  const passLogLR = maxRateEvidence({ trials: n, events: slow.possible, maxRate: share }).passLogLR;
  const need = Math.max(minRequests, 1);
  const decision = n < need ? 'inconclusive' : failLogLR >= threshold ? 'fail' : passLogLR >= passThreshold ? 'pass' : 'inconclusive';
  const evidence = { logLikelihoodRatio: failLogLR, threshold, passLogLikelihoodRatio: passLogLR, passThreshold, alpha };
  const slowText = slow.certain === slow.possible ? `${slow.certain}` : `${slow.certain}–${slow.possible}`;
  const verdict =
    n < need ? `too few requests (${n} of ${need})` : decision === 'fail' ? 'too many are slower (fail)' : decision === 'pass' ? 'few enough are slower (pass)' : 'not yet decided';
  const reason = `new ${quantile} ${ms(observed)} vs limit ${ms(maxMs)}: ${slowText} of ${n} requests slower than the limit, allowed ${formatPct(share)}; ${verdict}, ln E harm ${failLogLR.toFixed(2)}/${threshold.toFixed(2)}, safety ${passLogLR.toFixed(2)}/${passThreshold.toFixed(2)}`;
  return { ...base, decision, observed, method: 'sequential-one-sample', evidence, reason };
}

interface QuantileFigures {
  count: number;
  point: number | null;
  low: number | null;
  high: number | null;
}

/** The q-quantile and its order-statistic interval: ranks nq ± z·√(nq(1−q)). */
function quantileFigures(h: LatencyHistogram, q: number): QuantileFigures {
  const n = histogramCount(h);
  const spread = QUANTILE_INTERVAL_Z * Math.sqrt(n * q * (1 - q));
  return {
    count: n,
    point: quantileMs(h, q),
    low: quantileMs(h, Math.max(0, Math.floor(n * q - spread)) / Math.max(n, 1)),
    high: quantileMs(h, Math.min(n, Math.ceil(n * q + spread) + 1) / Math.max(n, 1)),
  };
}

/** The quantile as one number (no interval): from a histogram if there is one, else as measured elsewhere. */
function pointFigures(w: AnalysisWindow, quantile: LatencyQuantile): QuantileFigures {
  const q = LATENCY_QUANTILES[quantile];
  const point = w.latency !== undefined ? quantileMs(w.latency, q) : (w.latencyQuantilesMs?.[quantile] ?? null);
  const count = w.latency !== undefined ? histogramCount(w.latency) : w.requests;
  return { count, point, low: point, high: point };
}

function latencyRatioCheck(input: LatencyChecksInput, ratio: number): CheckResult {
  const { quantile, newWindow, stableWindow, minRequests } = input;
  const check = `latency.${quantile}.max_ratio_to_stable`;
  const q = LATENCY_QUANTILES[quantile];
  const [newHist, stableHist] = [newWindow.latency, stableWindow.latency];
  const hasHistograms = newHist !== undefined && stableHist !== undefined;
  const method = hasHistograms ? 'quantile-interval' : 'quantile-point';
  const nw = hasHistograms ? quantileFigures(newHist, q) : pointFigures(newWindow, quantile);
  const st = hasHistograms ? quantileFigures(stableHist, q) : pointFigures(stableWindow, quantile);
  const threshold = st.point === null ? null : st.point * ratio;
  const base = { check, observed: nw.point, stable: st.point, threshold, unit: 'ms' as const, method } as const;
  const need = minSamples(q, minRequests);
  if (nw.point === null || st.point === null) {
    return { ...base, decision: 'inconclusive', reason: `no ${quantile} measured yet for ${nw.point === null ? 'new' : 'stable'}` };
  }
  if (nw.count < need || st.count < need) {
    return { ...base, decision: 'inconclusive', reason: `too few samples for ${quantile}: new ${nw.count}, stable ${st.count}, each needs ${need}` };
  }
  const what = `new ${quantile} ${ms(nw.point)} vs stable ${ms(st.point)} × ${ratio} = ${ms(threshold)}`;
  if (nw.low !== null && st.high !== null && nw.low > st.high * ratio) {
    return { ...base, decision: 'fail', reason: `${what}: above the limit beyond sampling noise (new at least ${ms(nw.low)}, stable at most ${ms(st.high)})` };
  }
  if (nw.point <= st.point * ratio) return { ...base, decision: 'pass', reason: `${what}: within the limit` };
  return { ...base, decision: 'inconclusive', reason: `${what}: above the limit but within sampling noise; waiting for more samples` };
}
