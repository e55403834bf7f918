// The watch window's verdicts on simulated traffic, judged only from the watch's
// start (as before) and from its later starts too (core/analysis watchStartOffsets,
// as the server does now): how often each wrongly rolls back a release as good as
// the previous one (A/A), and how soon each catches one that goes bad late.
//
// Each run is a 30-minute watch at a steady request rate, evaluated every simulated
// second on the default analysis plus the 5% floor, against a baseline of 20,000
// requests of the previous release at the same error rate.
//
//   node --import tsx bench/watch-aa-bench.ts [--runs 300] [--seed 1]
//
// Deterministic for a given seed (mulberry32).

import { parseArgs } from 'node:util';
import {
  DEFAULT_ANALYSIS, DEFAULT_WATCH_MAX_ERROR_RATE, evaluateAnalysis, watchSpec, watchStartOffsets, watchStartSpec, type AnalysisWindow,
} from '../src/core/analysis/index.ts';
import { mulberry32, sampleBinomial } from '../src/core/analysis/simulate-analysis.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '300' }, seed: { type: 'string', default: '1' }, help: { type: 'boolean', default: false } } });
if (values.help) {
  console.log('node --import tsx bench/watch-aa-bench.ts [--runs 300] [--seed 1]: false rollbacks and detection times of the watch window, from its start only and from later starts too');
  process.exit(0);
}
const RUNS = Number(values.runs);
const WATCH_S = 30 * 60;
const BASELINE_REQUESTS = 20_000;

interface Scenario {
  name: string;
  rps: number;
  stableRate: number;
  /** The new release's rate after `badAfterS` (the stable rate before). */
  badRate: number;
  badAfterS: number;
}

type Mode = 'start only' | 'later starts too';

/** Seconds from going bad to the first fail, or null when the watch ended without one. */
function runWatch(s: Scenario, mode: Mode, random: () => number): number | null {
  const offsets = mode === 'start only' ? [0] : watchStartOffsets(WATCH_S * 1000).map((ms) => ms / 1000);
  const spec = watchStartSpec(watchSpec(DEFAULT_ANALYSIS, DEFAULT_WATCH_MAX_ERROR_RATE), offsets.length);
  const stable: AnalysisWindow = { requests: BASELINE_REQUESTS, errors: sampleBinomial(random, BASELINE_REQUESTS, s.stableRate) };
  // Cumulative counts at each second, so a window from any start is a difference.
  const req: number[] = [0];
  const err: number[] = [0];
  for (let t = 1; t <= WATCH_S; t++) {
    const rate = t > s.badAfterS ? s.badRate : s.stableRate;
    req.push(req[t - 1]! + s.rps);
    err.push(err[t - 1]! + sampleBinomial(random, s.rps, rate));
    for (const from of offsets) {
      if (from >= t) break;
      const w = { requests: req[t]! - req[from]!, errors: err[t]! - err[from]! };
      if (evaluateAnalysis({ spec, newWindow: w, stableWindow: stable }).decision === 'fail') return t - Math.min(t, s.badAfterS);
    }
  }
  return null;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]!;
}

const scenarios: Scenario[] = [
  { name: 'A/A 1% errors, 20 req/s', rps: 20, stableRate: 0.01, badRate: 0.01, badAfterS: WATCH_S },
  { name: 'A/A 1% errors, 200 req/s', rps: 200, stableRate: 0.01, badRate: 0.01, badAfterS: WATCH_S },
  { name: 'A/A 0.1% errors, 200 req/s', rps: 200, stableRate: 0.001, badRate: 0.001, badAfterS: WATCH_S },
  { name: '0.5% → 3% at 20 min, 20 req/s', rps: 20, stableRate: 0.005, badRate: 0.03, badAfterS: 20 * 60 },
  { name: '0.5% → 3% at 20 min, 200 req/s', rps: 200, stableRate: 0.005, badRate: 0.03, badAfterS: 20 * 60 },
  { name: '1% → 10% at 25 min, 20 req/s', rps: 20, stableRate: 0.01, badRate: 0.1, badAfterS: 25 * 60 },
  { name: '1% → 50% at 5 min, 20 req/s', rps: 20, stableRate: 0.01, badRate: 0.5, badAfterS: 5 * 60 },
];

console.log(`watch window: ${WATCH_S / 60} min, judged every second; default analysis + ${DEFAULT_WATCH_MAX_ERROR_RATE * 100}% floor, false_alarm_rate ${DEFAULT_ANALYSIS.alpha}; baseline ${BASELINE_REQUESTS} requests; ${RUNS} runs per row (A/A rows) or ${Math.ceil(RUNS / 3)} (bad rows)`);
console.log(`${'scenario'.padEnd(34)} ${'judged from'.padEnd(17)} ${'rolled back'.padStart(12)} ${'median s to fail'.padStart(17)}`);
for (const s of scenarios) {
  const isAa = s.badRate === s.stableRate;
  const runs = isAa ? RUNS : Math.ceil(RUNS / 3);
  for (const mode of ['start only', 'later starts too'] as Mode[]) {
    const random = mulberry32(Number(values.seed));
    const results = Array.from({ length: runs }, () => runWatch(s, mode, random));
    const failed = results.filter((r): r is number => r !== null);
    const share = `${failed.length}/${runs}`;
    console.log(`${s.name.padEnd(34)} ${mode.padEnd(17)} ${share.padStart(12)} ${(isAa || failed.length === 0 ? '-' : String(median(failed))).padStart(17)}`);
  }
}
