// Judges one analysis spec against the new and stable releases' windows: every
// configured limit becomes one CheckResult, and the analysis fails if any check
// fails, passes if every check passes, and is inconclusive otherwise.
//
// FALSE FAILS: alpha is split evenly (Bonferroni) among the sequential checks, that
// is error_rate.max, error_rate.max_increase_over_stable and each latency.pXX.max,
// so under their assumptions (sequential-test.ts) a canary within all those limits
// is failed with probability ≤ alpha over the whole analysis, however often it is
// evaluated. A false pass needs the one breached check to pass, so beta is not split.
// Latency ratios, CPU, memory and restarts are plain comparisons with no such rate.
// alpha holds per analysis: a rollout with three analysis steps may reach 3·alpha.
//
// min_requests gates the request-based checks only: a canary that restarts or
// exhausts memory is failed before it has served anything.

import { LATENCY_QUANTILES, type AnalysisSpec, type InconclusivePolicy, type LatencyQuantile } from './analysis-spec.ts';
import type { AnalysisWindow } from './analysis-window.ts';
import { evidenceOf, type AnalysisResult, type CheckResult, type CheckUnit } from './check-result.ts';
import { latencyChecks } from './latency-checks.ts';
import { errorRateTest, maxErrorRateTest, type AnalysisDecision } from './sequential-test.ts';

/**
 * Ratio checks on CPU compare with at least this much: an idle stable at 1% makes a
 * canary at 2% "twice as hungry", which says nothing about the release.
 */
export const CPU_RATIO_FLOOR_PERCENT = 5;
/** Likewise for memory: below this, ratios measure the runtime's start-up, not a leak. */
export const MEMORY_RATIO_FLOOR_MB = 64;

export interface EvaluateAnalysisInput {
  spec: AnalysisSpec;
  newWindow: AnalysisWindow;
  stableWindow: AnalysisWindow;
}

export function evaluateAnalysis({ spec, newWindow, stableWindow }: EvaluateAnalysisInput): AnalysisResult {
  const alphaEach = spec.alpha / Math.max(sequentialCheckCount(spec), 1);
  const checks: CheckResult[] = [minRequestsCheck(spec.minRequests, newWindow.requests)];
  checks.push(...errorRateChecks(spec, newWindow, stableWindow, alphaEach));
  for (const quantile of Object.keys(LATENCY_QUANTILES) as LatencyQuantile[]) {
    const limit = spec.latency?.[quantile];
    if (limit === undefined) continue;
    checks.push(...latencyChecks({ quantile, limit, newWindow, stableWindow, minRequests: spec.minRequests, alpha: alphaEach, beta: spec.beta }));
  }
  checks.push(...resourceChecks(spec, newWindow, stableWindow));
  return withLongRequests(summarise(checks), newWindow, stableWindow);
}

/**
 * Says how many requests of each release were long ones (past proxy.long_request),
 * which the latency checks did not see: a release whose every answer became long
 * would otherwise pass them in silence.
 */
function withLongRequests(result: AnalysisResult, nw: AnalysisWindow, st: AnalysisWindow): AnalysisResult {
  const none = { requests: 0, errors: 0 };
  const [n, s] = [nw.long ?? none, st.long ?? none];
  if (n.requests === 0 && s.requests === 0) return result;
  const errors = (c: { errors: number }) => (c.errors > 0 ? `, ${c.errors} failed` : '');
  const note = `long requests left out of latency: new ${n.requests}${errors(n)}, stable ${s.requests}${errors(s)}`;
  return { ...result, reason: `${result.reason} (${note})`, longRequests: { new: { ...n }, stable: { ...s } } };
}

/** The number of checks that share alpha. */
export function sequentialCheckCount(spec: AnalysisSpec): number {
  const errorRate = (spec.errorRate?.max !== undefined ? 1 : 0) + (spec.errorRate?.maxIncreaseOverStable !== undefined ? 1 : 0);
  const latency = Object.values(spec.latency ?? {}).filter((l) => l?.maxMs !== undefined).length;
  return errorRate + latency;
}

/** What an inconclusive analysis becomes once its step's deadline has passed; 'wait' holds for a person. */
export function decideAtDeadline(result: AnalysisResult, policy: InconclusivePolicy): 'pass' | 'fail' | 'wait' {
  return result.decision === 'inconclusive' ? policy : result.decision;
}

function list(cs: CheckResult[]): string {
  return cs.map(describe).join('; ');
}

function describe(c: CheckResult): string {
  return `${c.check} (${c.reason})`;
}

function isFailed(c: CheckResult): boolean {
  return c.decision === 'fail';
}

function isOpen(c: CheckResult): boolean {
  return c.decision === 'inconclusive';
}

function summarise(checks: CheckResult[]): AnalysisResult {
  const failed = checks.filter(isFailed);
  const open = checks.filter(isOpen);
  // The decision says "fail" already; callers prefix "analysis failed: ".
  if (failed.length > 0) return { decision: 'fail', checks, reason: list(failed) };
  if (open.length > 0) return { decision: 'inconclusive', checks, reason: `waiting on: ${list(open)}` };
  return { decision: 'pass', checks, reason: `all ${checks.length} checks passed` };
}

function minRequestsCheck(minRequests: number, requests: number): CheckResult {
  const decision = requests >= minRequests ? 'pass' : 'inconclusive';
  return {
    check: 'min_requests',
    decision,
    observed: requests,
    stable: null,
    threshold: minRequests,
    unit: 'count',
    method: 'count',
    reason: `${requests} of ${minRequests} requests served by new`,
  };
}

function errorRateChecks(spec: AnalysisSpec, nw: AnalysisWindow, st: AnalysisWindow, alpha: number): CheckResult[] {
  const out: CheckResult[] = [];
  const limits = spec.errorRate ?? {};
  if (limits.max !== undefined) {
    const r = maxErrorRateTest({ requests: nw.requests, errors: nw.errors, maxRate: limits.max, alpha, beta: spec.beta, minRequests: spec.minRequests });
    out.push({
      check: 'error_rate.max',
      decision: r.decision,
      observed: r.observed.newRate,
      stable: null,
      threshold: limits.max,
      unit: 'fraction',
      method: 'sequential-one-sample',
      evidence: evidenceOf(r, alpha),
      reason: r.reason,
    });
  }
  if (limits.maxIncreaseOverStable !== undefined) {
    const r = errorRateTest({
      newRequests: nw.requests,
      newErrors: nw.errors,
      stableRequests: st.requests,
      stableErrors: st.errors,
      alpha,
      beta: spec.beta,
      maxIncreaseOverStable: limits.maxIncreaseOverStable,
      minRequests: spec.minRequests,
    });
    const stableRate = r.observed.stableRate;
    out.push({
      check: 'error_rate.max_increase_over_stable',
      decision: r.decision,
      observed: r.observed.newRate,
      stable: stableRate,
      threshold: stableRate === null ? null : stableRate + limits.maxIncreaseOverStable,
      unit: 'fraction',
      method: 'sequential-two-sample',
      evidence: evidenceOf(r, alpha),
      reason: r.reason,
    });
  }
  return out;
}

interface GaugeCheck {
  check: string;
  unit: CheckUnit;
  observed: number | undefined;
  stable?: number | undefined;
  /** Absolute limit, or the ratio for relative checks. */
  limit: number;
  isRatio: boolean;
  /** Relative checks compare with max(stable, floor). */
  floor?: number;
}

function resourceChecks(spec: AnalysisSpec, nw: AnalysisWindow, st: AnalysisWindow): CheckResult[] {
  const gauges: GaugeCheck[] = [];
  const { cpu, memory, restarts } = spec;
  if (cpu?.maxPercent !== undefined) gauges.push({ check: 'cpu.max_percent', unit: 'percent', observed: nw.cpuPercent, limit: cpu.maxPercent, isRatio: false });
  if (cpu?.maxRatioToStable !== undefined) {
    gauges.push({ check: 'cpu.max_ratio_to_stable', unit: 'percent', observed: nw.cpuPercent, stable: st.cpuPercent, limit: cpu.maxRatioToStable, isRatio: true, floor: CPU_RATIO_FLOOR_PERCENT });
  }
  if (memory?.maxMb !== undefined) gauges.push({ check: 'memory.max_mb', unit: 'MB', observed: nw.rssMb, limit: memory.maxMb, isRatio: false });
  if (memory?.maxRatioToStable !== undefined) {
    gauges.push({ check: 'memory.max_ratio_to_stable', unit: 'MB', observed: nw.rssMb, stable: st.rssMb, limit: memory.maxRatioToStable, isRatio: true, floor: MEMORY_RATIO_FLOOR_MB });
  }
  const out = gauges.map(gaugeCheck);
  if (restarts !== undefined) {
    const observed = nw.restarts ?? null;
    const decision: AnalysisDecision = observed === null ? 'inconclusive' : observed > restarts.max ? 'fail' : 'pass';
    const reason = observed === null ? 'restarts of new not reported' : `${observed} restarts of new, at most ${restarts.max} allowed`;
    out.push({ check: 'restarts.max', decision, observed, stable: null, threshold: restarts.max, unit: 'count', method: 'count', reason });
  }
  return out;
}

function formatLevel(x: number | null, unit: CheckUnit): string {
  return x === null ? 'n/a' : `${x.toFixed(1)}${unit === 'percent' ? '%' : ' MB'}`;
}

function gaugeCheck(g: GaugeCheck): CheckResult {
  const observed = g.observed ?? null;
  const stable = g.isRatio ? (g.stable ?? null) : null;
  const threshold = !g.isRatio ? g.limit : stable === null ? null : Math.max(stable, g.floor ?? 0) * g.limit;
  const base = { check: g.check, observed, stable, threshold, unit: g.unit, method: 'gauge' as const };
  if (observed === null || threshold === null) {
    return { ...base, decision: 'inconclusive', reason: `${observed === null ? 'new' : 'stable'} not measured yet` };
  }
  const decision = observed > threshold ? 'fail' : 'pass';
  const limitText = g.isRatio ? `stable ${formatLevel(stable, g.unit)} × ${g.limit}${stable !== null && stable < (g.floor ?? 0) ? ` (stable counted as ${formatLevel(g.floor ?? 0, g.unit)})` : ''} = ${formatLevel(threshold, g.unit)}` : formatLevel(threshold, g.unit);
  return { ...base, decision, reason: `new ${formatLevel(observed, g.unit)} ${decision === 'fail' ? '>' : '≤'} ${limitText}` };
}
