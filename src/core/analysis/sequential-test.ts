// Sequential tests on error rates, safe to look at after every request.
//
// METHOD: a mixture-vs-profile likelihood ratio (sequential "universal inference",
// Wasserman, Ramdas & Balakrishnan, PNAS 2020), with Jeffreys Beta(1/2, 1/2) mixtures.
// To test a null set H of error rates we compute the e-value
//
//     E_n = ∫ L_n(p) π(dp)  /  sup_{p ∈ H} L_n(p)
//
// where L_n is the Bernoulli likelihood of the requests seen so far and π a fixed
// prior over all rates (one Beta per release). For the true rates p* ∈ H, the
// numerator over L_n(p*) is a likelihood-ratio martingale with mean 1, and E_n is
// no larger than it. Ville's inequality then gives, for every alpha,
//
//     P_{p*}( E_n ≥ 1/alpha at ANY n ) ≤ alpha.
//
// So the false-alarm guarantee holds however often we look (every second or every
// request), whenever we stop, and whatever the traffic split, even one changed
// between looks, provided the split does not peek at outcomes not yet counted.
//
// ASSUMPTIONS: within the analysis window each request of a release fails
// independently with one fixed probability per release, and the counts are
// cumulative from the start of the analysis (a sliding window breaks the
// martingale). Bursts of correlated errors (a dependency down for 3 s) violate
// independence: the counts then vary more than the model allows and a good canary
// can be failed more often than alpha. The bound is otherwise loose (regret, and
// Ville's inequality is rarely tight): bench/analysis-aa-bench.ts sees no false fail
// in 36 000 simulated two-minute A/A runs at alpha = 1%, 9 000 of them exactly on the
// null boundary; the price is decisions that come later than a tight test's would.
//
// WHY THIS AND NOT: (1) the Gaussian mSPRT on the difference of rates is poor at the
// handful of errors a canary sees in its first minutes; (2) conditioning on the total
// number of errors (e_new | e_total is binomial) removes the stable rate only for a
// RATIO tolerance; with an ABSOLUTE tolerance (+0.5 pp) the null contains stable
// rates near 0, where the conditional split is degenerate and the test has no power.
// Universal inference handles the absolute tolerance and the unknown stable rate
// exactly, at the price of ~½·ln n nats per unknown rate (the mixture's regret).
//
// Both directions are tested with the same numerator: 'fail' rejects "canary within
// the limit" at level alpha; 'pass' rejects "canary beyond the limit" at level beta,
// so P(pass | canary worse than the limit) ≤ beta. The two null sets cover all rates,
// so at most one e-value exceeds 1 and both can never cross at once. There is no
// pass by sample size: a canary with too little traffic stays 'inconclusive', and
// the caller's inconclusive policy decides at its deadline.

import { SlipwayError } from '../errors.ts';
import { logBeta, xLogY } from './log-gamma.ts';

export type AnalysisDecision = 'pass' | 'fail' | 'inconclusive';

/** Highest chance of passing a canary at or beyond its limit, when a spec gives none. */
export const DEFAULT_BETA = 0.05;

/** Jeffreys prior Beta(½, ½): minimax-regret for a Bernoulli rate, which keeps the cost of mixing small. */
const PRIOR = 0.5;
const LOG_BETA_PRIOR = logBeta(PRIOR, PRIOR);

/** ln of the e-values for both directions; fail at ≥ ln(1/alpha), pass at ≥ ln(1/beta). */
export interface RateEvidence {
  failLogLR: number;
  passLogLR: number;
}

export interface SequentialTestResult {
  decision: AnalysisDecision;
  /** ln E against "the canary is within the limit"; 'fail' once ≥ threshold. */
  logLikelihoodRatio: number;
  /** ln(1/alpha). */
  threshold: number;
  /** ln E against "the canary is beyond the limit"; 'pass' once ≥ passThreshold. */
  passLogLikelihoodRatio: number;
  /** ln(1/beta). */
  passThreshold: number;
  observed: { newRate: number | null; stableRate: number | null };
  reason: string;
}

/** ln of the Beta(½,½)-mixture probability of `events` failures in `trials` (in a given order). */
function logMixture(events: number, trials: number): number {
  return logBeta(PRIOR + events, PRIOR + trials - events) - LOG_BETA_PRIOR;
}

function logLikelihood(events: number, trials: number, p: number): number {
  return xLogY(events, p) + xLogY(trials - events, 1 - p);
}

/** Evidence about one rate against a limit: fail tests H: p ≤ maxRate, pass tests H: p ≥ maxRate. */
export function maxRateEvidence(o: { trials: number; events: number; maxRate: number }): RateEvidence {
  const { trials, events, maxRate } = o;
  const mix = logMixture(events, trials);
  const pHat = trials > 0 ? events / trials : 0;
  const top = logLikelihood(events, trials, pHat);
  const atLimit = logLikelihood(events, trials, maxRate);
  // The log-likelihood is concave in p, so its sup over a half-line is the MLE when
  // the MLE is inside, else the end point.
  return { failLogLR: mix - (pHat <= maxRate ? top : atLimit), passLogLR: mix - (pHat >= maxRate ? top : atLimit) };
}

/** Counts of both releases, for the two-sample evidence. */
export interface TwoSampleCounts {
  newTrials: number;
  newEvents: number;
  stableTrials: number;
  stableEvents: number;
}

/**
 * Evidence about p_new − p_stable against `maxIncrease`: fail tests H: p_new ≤
 * p_stable + maxIncrease, pass tests H: p_new ≥ p_stable + maxIncrease.
 */
export function increaseEvidence(c: TwoSampleCounts & { maxIncrease: number }): RateEvidence {
  const delta = c.maxIncrease;
  const mix = logMixture(c.newEvents, c.newTrials) + logMixture(c.stableEvents, c.stableTrials);
  const pNew = c.newTrials > 0 ? c.newEvents / c.newTrials : 0;
  const pStable = c.stableTrials > 0 ? c.stableEvents / c.stableTrials : 0;
  const top = logLikelihood(c.newEvents, c.newTrials, pNew) + logLikelihood(c.stableEvents, c.stableTrials, pStable);
  // The joint log-likelihood is concave and each null is a half-plane: its sup is the
  // MLE when the MLE lies inside, else the maximum on the line p_new = p_stable + delta.
  // At most one of the two nulls needs the line.
  const diff = pNew - pStable;
  const onLine = diff === delta ? top : maxOnLine(c, delta);
  return { failLogLR: mix - (diff <= delta ? top : onLine), passLogLR: mix - (diff >= delta ? top : onLine) };
}

/**
 * max over s ∈ [0, 1 − δ] of g(s) = ℓ_new(s + δ) + ℓ_stable(s). g is concave, so its
 * slope is decreasing: Newton steps kept inside a shrinking bracket (bisecting when
 * a step would leave it) cannot escape. −g is a sum of count-weighted −ln terms with
 * integer counts, hence self-concordant, so once the Newton decrement λ² = g′²/|g″|
 * is small it bounds the gap to the maximum: stopping at λ² < 1e-12 leaves the
 * log-likelihood within 1e-12 nats. Slopes at the ends may be ±∞, never NaN.
 */
function maxOnLine(c: TwoSampleCounts, delta: number): number {
  const line: Line = { ne: c.newEvents, nf: c.newTrials - c.newEvents, se: c.stableEvents, sf: c.stableTrials - c.stableEvents, delta };
  let lo = 0;
  let hi = 1 - delta;
  if (slopeOnLine(line, lo) <= 0) return logLikelihoodOnLine(line, lo);
  if (slopeOnLine(line, hi) >= 0) return logLikelihoodOnLine(line, hi);
  // Start at the pooled rate shifted onto the line (exact when delta = 0), but not
  // against an end, where a log barrier would make Newton crawl.
  const pooled = (c.newEvents + c.stableEvents - c.newTrials * delta) / (c.newTrials + c.stableTrials);
  const margin = 1e-3 * (hi - lo);
  let s = Math.min(Math.max(pooled, lo + margin), hi - margin);
  for (let i = 0; i < 200; i++) {
    const d = slopeOnLine(line, s);
    if (d > 0) lo = s;
    else if (d < 0) hi = s;
    else break;
    const curvature = curvatureOnLine(line, s);
    if ((d * d) / -curvature < 1e-12) break;
    const newton = s - d / curvature;
    s = newton > lo && newton < hi ? newton : lo + (hi - lo) / 2;
  }
  return logLikelihoodOnLine(line, s);
}

/** Events (e) and non-events (f) of both releases, for rates (s + delta, s). */
interface Line {
  ne: number;
  nf: number;
  se: number;
  sf: number;
  delta: number;
}

function ratio(k: number, x: number): number {
  return k === 0 ? 0 : k / x;
}

/** The canary's rate on the line; clamped because (1 − δ) + δ may round above 1. */
function newRateOnLine(l: Line, s: number): number {
  return Math.min(s + l.delta, 1);
}

function slopeOnLine(l: Line, s: number): number {
  const pn = newRateOnLine(l, s);
  return ratio(l.ne, pn) - ratio(l.nf, 1 - pn) + ratio(l.se, s) - ratio(l.sf, 1 - s);
}

function curvatureOnLine(l: Line, s: number): number {
  const pn = newRateOnLine(l, s);
  return -ratio(l.ne, pn * pn) - ratio(l.nf, (1 - pn) * (1 - pn)) - ratio(l.se, s * s) - ratio(l.sf, (1 - s) * (1 - s));
}

function logLikelihoodOnLine(l: Line, s: number): number {
  const pn = newRateOnLine(l, s);
  return xLogY(l.ne, pn) + xLogY(l.nf, 1 - pn) + xLogY(l.se, s) + xLogY(l.sf, 1 - s);
}

function checkProbability(name: string, v: number, allowZero: boolean): void {
  if (!(v < 1 && (allowZero ? v >= 0 : v > 0))) {
    throw new SlipwayError('E_CONFIG_INVALID', `analysis ${name} must be ${allowZero ? 'at least 0' : 'above 0'} and below 1 (got ${v})`, { [name]: v });
  }
}

function isCount(n: number): boolean {
  return Number.isInteger(n) && n >= 0;
}

function rate(events: number, trials: number): number | null {
  return trials > 0 ? events / trials : null;
}

export function formatPct(x: number | null): string {
  if (x === null) return 'n/a';
  return `${(x * 100).toFixed(x !== 0 && Math.abs(x) < 0.01 ? 2 : 1)}%`;
}

function decide(ev: RateEvidence, alpha: number, beta: number): Omit<SequentialTestResult, 'observed' | 'reason'> {
  const threshold = Math.log(1 / alpha);
  const passThreshold = Math.log(1 / beta);
  const decision = ev.failLogLR >= threshold ? 'fail' : ev.passLogLR >= passThreshold ? 'pass' : 'inconclusive';
  return { decision, logLikelihoodRatio: ev.failLogLR, threshold, passLogLikelihoodRatio: ev.passLogLR, passThreshold };
}

function formatLogE(x: number): string {
  return Number.isFinite(x) ? x.toFixed(2) : String(x);
}

function evidenceText(r: Omit<SequentialTestResult, 'observed' | 'reason'>): string {
  if (r.decision === 'fail') return `evidence of harm ln E = ${formatLogE(r.logLikelihoodRatio)} ≥ ${formatLogE(r.threshold)}`;
  if (r.decision === 'pass') return `evidence of safety ln E = ${formatLogE(r.passLogLikelihoodRatio)} ≥ ${formatLogE(r.passThreshold)}`;
  return `not yet decided: harm ln E = ${formatLogE(r.logLikelihoodRatio)} < ${formatLogE(r.threshold)}, safety ln E = ${formatLogE(r.passLogLikelihoodRatio)} < ${formatLogE(r.passThreshold)}`;
}

/** For counts that cannot be judged: the evidence stays at its starting value, ln E = 0. */
function inconclusive(observed: SequentialTestResult['observed'], alpha: number, beta: number, reason: string): SequentialTestResult {
  return { decision: 'inconclusive', logLikelihoodRatio: 0, threshold: Math.log(1 / alpha), passLogLikelihoodRatio: 0, passThreshold: Math.log(1 / beta), observed, reason };
}

export interface ErrorRateTestInput {
  newRequests: number;
  newErrors: number;
  stableRequests: number;
  stableErrors: number;
  /** Chance of failing a canary within the tolerance, over the whole analysis however often it is looked at. */
  alpha: number;
  /** Chance of passing a canary beyond the tolerance; DEFAULT_BETA when absent. */
  beta?: number;
  /** Absolute tolerance on the error rate, e.g. 0.005 for +0.5 percentage points. */
  maxIncreaseOverStable: number;
  /** Both releases need this many requests before any decision (the evidence is still reported). */
  minRequests: number;
}

/** Is the canary's error rate more than `maxIncreaseOverStable` above stable's? Counts are cumulative since the analysis began. */
export function errorRateTest(input: ErrorRateTestInput): SequentialTestResult {
  const { newRequests: nn, newErrors: ne, stableRequests: sn, stableErrors: se, alpha } = input;
  const beta = input.beta ?? DEFAULT_BETA;
  checkProbability('alpha', alpha, false);
  checkProbability('beta', beta, false);
  checkProbability('max_increase_over_stable', input.maxIncreaseOverStable, true);
  const observed = { newRate: rate(ne, nn), stableRate: rate(se, sn) };
  if (![nn, ne, sn, se].every(isCount) || ne > nn || se > sn) {
    return inconclusive(observed, alpha, beta, `counts are inconsistent (new ${ne}/${nn}, stable ${se}/${sn}); waiting for valid counts`);
  }
  const ev = increaseEvidence({ newTrials: nn, newEvents: ne, stableTrials: sn, stableEvents: se, maxIncrease: input.maxIncreaseOverStable });
  const r = decide(ev, alpha, beta);
  const need = Math.max(input.minRequests, 1);
  if (nn < need || sn < need) {
    return { ...r, decision: 'inconclusive', observed, reason: `too few requests: new ${nn}, stable ${sn}, each needs ${need}` };
  }
  const what = `new ${formatPct(observed.newRate)} (${ne}/${nn}) vs stable ${formatPct(observed.stableRate)} (${se}/${sn}), tolerance +${formatPct(input.maxIncreaseOverStable)}`;
  return { ...r, observed, reason: `${what}: ${evidenceText(r)}` };
}

export interface MaxErrorRateTestInput {
  requests: number;
  errors: number;
  /** The highest acceptable error rate, as a fraction. */
  maxRate: number;
  alpha: number;
  beta?: number;
  minRequests: number;
}

/** Is the canary's error rate above `maxRate`? The one-sample form of errorRateTest, same guarantee. */
export function maxErrorRateTest(input: MaxErrorRateTestInput): SequentialTestResult {
  const { requests: n, errors: e, alpha } = input;
  const beta = input.beta ?? DEFAULT_BETA;
  checkProbability('alpha', alpha, false);
  checkProbability('beta', beta, false);
  checkProbability('error_rate.max', input.maxRate, true);
  const observed = { newRate: rate(e, n), stableRate: null };
  if (!isCount(n) || !isCount(e) || e > n) {
    return inconclusive(observed, alpha, beta, `counts are inconsistent (${e}/${n}); waiting for valid counts`);
  }
  const r = decide(maxRateEvidence({ trials: n, events: e, maxRate: input.maxRate }), alpha, beta);
  const need = Math.max(input.minRequests, 1);
  if (n < need) return { ...r, decision: 'inconclusive', observed, reason: `too few requests: ${n} of ${need}` };
  return { ...r, observed, reason: `new ${formatPct(observed.newRate)} (${e}/${n}) vs limit ${formatPct(input.maxRate)}: ${evidenceText(r)}` };
}
