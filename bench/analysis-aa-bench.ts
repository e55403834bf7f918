// How the canary analysis behaves on simulated traffic: how often it wrongly fails a
// canary as good as stable (A/A), and how fast it stops a bad one and at what cost
// in failed user requests. The analysis is evaluated every simulated second on the
// cumulative counts, exactly as the server does, for 2 minutes per run.
//
//   node --import tsx bench/analysis-aa-bench.ts [--runs 1000] [--seed 1]
//
// Deterministic for a given seed (mulberry32).

import { DEFAULT_ANALYSIS, type AnalysisSpec } from '../src/core/analysis/index.ts';
import { mulberry32, simulateAnalysisRun, type CanaryScenario, type SimulatedRun } from '../src/core/analysis/simulate-analysis.ts';

const args = process.argv.slice(2);
const argValue = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const AA_RUNS = argValue('--runs', 1000);
const BAD_RUNS = Math.max(100, Math.round(AA_RUNS / 5));
const SEED = argValue('--seed', 1);
const SECONDS = 120;

const STABLE_RATES = [0.001, 0.01, 0.05];
const WEIGHTS = [0.05, 0.1, 0.25];
const RPS = [100, 300, 1000];
const BAD_RATES = [0.3, 0.05];
const ZERO_TOLERANCE: AnalysisSpec = { ...DEFAULT_ANALYSIS, errorRate: { maxIncreaseOverStable: 0 } };

function pct(x: number, digits = 1): string {
  return `${(x * 100).toFixed(digits)}%`;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
}

function runMany(scenario: CanaryScenario, spec: AnalysisSpec, runs: number, seed: number): SimulatedRun[] {
  const random = mulberry32(seed);
  return Array.from({ length: runs }, () => simulateAnalysisRun({ scenario, spec, random }));
}

function row(cells: (string | number)[], widths: number[]): string {
  return cells.map((c, i) => String(c).padStart(widths[i] ?? 10)).join(' ');
}

interface AaRow {
  stableErrorRate: number;
  canaryWeight: number;
  requestsPerSecond: number;
  runs: SimulatedRun[];
}

function falseFailRate(runs: SimulatedRun[]): number {
  return runs.filter((r) => r.failedAtSecond !== null).length / runs.length;
}

function aaRows(spec: AnalysisSpec, weights: number[], seed: number): AaRow[] {
  const rows: AaRow[] = [];
  for (const stableErrorRate of STABLE_RATES) {
    for (const canaryWeight of weights) {
      for (const requestsPerSecond of RPS) {
        const scenario = { requestsPerSecond, canaryWeight, stableErrorRate, newErrorRate: stableErrorRate, seconds: SECONDS };
        rows.push({ stableErrorRate, canaryWeight, requestsPerSecond, runs: runMany(scenario, spec, AA_RUNS, seed++) });
      }
    }
  }
  return rows;
}

function aaTable(): void {
  console.log(`\nA/A: canary as good as stable, ${AA_RUNS} runs of ${SECONDS} s each, checked every second (default analysis)`);
  console.log('false fail = failed at any second (runs go on after a pass); the guarantee is ≤ alpha = 1%');
  const widths = [8, 7, 6, 11, 9, 12];
  console.log(row(['stable', 'weight', 'req/s', 'false fail', 'passed', 'median pass'], widths));
  const rows = aaRows(DEFAULT_ANALYSIS, WEIGHTS, SEED);
  for (const r of rows) {
    const passTimes = r.runs.flatMap((x) => (x.passedAtSecond === null ? [] : [x.passedAtSecond])).sort((a, b) => a - b);
    const medianPass = passTimes.length > AA_RUNS / 2 ? `${quantile(passTimes, 0.5)} s` : `> ${SECONDS} s`;
    console.log(row([pct(r.stableErrorRate), pct(r.canaryWeight, 0), r.requestsPerSecond, pct(falseFailRate(r.runs)), pct(passTimes.length / AA_RUNS, 0), medianPass], widths));
  }
  const worst = Math.max(...rows.map((r) => falseFailRate(r.runs)));
  const total = rows.reduce((a, r) => a + falseFailRate(r.runs) * AA_RUNS, 0);
  console.log(`worst false-fail rate ${pct(worst, 2)}; ${total} false fails in ${rows.length * AA_RUNS} runs`);

  // With tolerance 0 an A/A canary sits exactly on the boundary of the null, the
  // hardest case for the guarantee (with +1 point it is deep inside the null).
  console.log(`\nA/A at tolerance 0 (max_increase_over_stable: 0), 10% weight, ${AA_RUNS} runs each`);
  const zero = aaRows(ZERO_TOLERANCE, [0.1], SEED + 5000);
  console.log(`peak ln E = the highest evidence of harm a run reached in ${SECONDS} s; it fails at ln(1/alpha) = ${Math.log(1 / ZERO_TOLERANCE.alpha).toFixed(2)}`);
  console.log(row(['stable', 'weight', 'req/s', 'false fail', 'peak ln E p50', 'p99', 'max'], [8, 7, 6, 11, 14, 7, 7]));
  for (const r of zero) {
    const peaks = r.runs.map((x) => x.peakHarmLogLR).sort((a, b) => a - b);
    const cells = [pct(r.stableErrorRate), pct(r.canaryWeight, 0), r.requestsPerSecond, pct(falseFailRate(r.runs))];
    console.log(row([...cells, ...[0.5, 0.99, 1].map((q) => quantile(peaks, q).toFixed(2))], [8, 7, 6, 11, 14, 7, 7]));
  }
  const zeroTotal = zero.reduce((a, r) => a + falseFailRate(r.runs) * AA_RUNS, 0);
  console.log(`${zeroTotal} false fails in ${zero.length * AA_RUNS} runs`);
}

function badTable(): void {
  console.log(`\nBad canaries: ${BAD_RUNS} runs each, aborted at the first 'fail' (default analysis: +1 point tolerance, alpha 1%, min_requests 50)`);
  console.log('failed requests = errors served to users (both releases) from the start of the analysis to the abort');
  const widths = [6, 8, 7, 6, 11, 10, 16, 17, 13, 10];
  console.log(row(['new', 'stable', 'weight', 'req/s', 'mean fail', 'p95 fail', 'canary req (mean)', 'canary errors', 'failed share', 'not failed'], widths));
  let seed = SEED + 10_000;
  for (const newErrorRate of BAD_RATES) {
    for (const stableErrorRate of STABLE_RATES.filter((s) => newErrorRate > s + 0.01)) {
      for (const canaryWeight of WEIGHTS) {
        for (const requestsPerSecond of RPS) {
          const scenario = { requestsPerSecond, canaryWeight, stableErrorRate, newErrorRate, seconds: SECONDS };
          const runs = runMany(scenario, DEFAULT_ANALYSIS, BAD_RUNS, seed++);
          const failed = runs.filter((r) => r.failedAtSecond !== null);
          const times = failed.map((r) => r.failedAtSecond ?? 0).sort((a, b) => a - b);
          const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);
          const share = mean(failed.map((r) => (r.newErrors + r.stableErrors) / (r.newRequests + r.stableRequests)));
          console.log(
            row(
              [
                pct(newErrorRate, 0),
                pct(stableErrorRate),
                pct(canaryWeight, 0),
                requestsPerSecond,
                `${mean(times).toFixed(1)} s`,
                `${quantile(times, 0.95)} s`,
                mean(failed.map((r) => r.newRequests)).toFixed(0),
                mean(failed.map((r) => r.newErrors)).toFixed(1),
                pct(share, 2),
                pct(1 - failed.length / BAD_RUNS, 1),
              ],
              widths,
            ),
          );
        }
      }
    }
  }
}

const started = performance.now();
console.log(`slipway canary analysis bench (seed ${SEED})`);
aaTable();
badTable();
console.log(`\ndone in ${((performance.now() - started) / 1000).toFixed(1)} s`);
