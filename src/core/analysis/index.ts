// Canary analysis: decides from the router's counts whether a new release is worse
// than the stable one (pass / fail / inconclusive), as soon as the evidence allows,
// with its false-fail rate stated (alpha) and holding under continuous monitoring.
//
// Pure like the rest of core: it reads windows of counts handed to it and returns
// decisions with their figures. It must not fetch metrics, read a clock (the caller
// owns deadlines and applies the inconclusive policy), draw random numbers, route
// traffic or abort a rollout: the rollout machine acts on what this returns.
// simulate-analysis.ts (seeded simulated traffic) serves the tests and the bench
// only, so it is not exported here.

export { DEFAULT_ANALYSIS, LATENCY_QUANTILES } from './analysis-spec.ts';
export type { AnalysisSpec, ErrorRateLimits, InconclusivePolicy, LatencyLimit, LatencyQuantile } from './analysis-spec.ts';
export { windowFromSnapshots } from './analysis-window.ts';
export type { AnalysisWindow, ReleaseCountsSnapshot, WindowFromSnapshotsInput } from './analysis-window.ts';
export type { AnalysisResult, CheckEvidence, CheckMethod, CheckResult, CheckUnit } from './check-result.ts';
export { CPU_RATIO_FLOOR_PERCENT, MEMORY_RATIO_FLOOR_MB, decideAtDeadline, evaluateAnalysis, sequentialCheckCount } from './checks.ts';
export type { EvaluateAnalysisInput } from './checks.ts';
export { QUANTILE_INTERVAL_Z, minSamples } from './latency-checks.ts';
export { DEFAULT_BETA, errorRateTest, increaseEvidence, maxErrorRateTest, maxRateEvidence } from './sequential-test.ts';
export type { AnalysisDecision, ErrorRateTestInput, MaxErrorRateTestInput, RateEvidence, SequentialTestResult, TwoSampleCounts } from './sequential-test.ts';
export { DEFAULT_WATCH_MAX_ERROR_RATE, WATCH_BASELINE_MIN_FACTOR, WATCH_MAX_STARTS, WATCH_MIN_START_SPACING_MS, chooseWatchBaseline, watchSpec, watchStartOffsets, watchStartSpec } from './watch-baseline.ts';
export type { ChooseWatchBaselineInput, WatchBaseline, WatchBaselineKind } from './watch-baseline.ts';
