// The watch window after a rollout: what the new stable release is compared with,
// and the absolute error-rate floor every watch applies. Pure.
//
// Once a rollout has succeeded the previous release serves nothing, so the watch
// compares the new release with a record of the previous one: what it served
// during the rollout (same hours, same traffic mix), or, when that record is too
// thin (a rolling deploy of two instances is over in a second), what it served in
// the minutes before the rollout began, when it carried all the traffic.
//
// The sequential tests stay valid with a fixed baseline: the two-sample e-value
// treats the baseline as data seen in one block before the new release's requests,
// and its guarantee does not depend on the order the data arrive in. What it does
// assume is that the previous release's error rate then is its rate now.

import type { AnalysisSpec } from './analysis-spec.ts';
import type { AnalysisWindow } from './analysis-window.ts';

/** A 5xx share above which a watched release is bad whatever its baseline did. */
export const DEFAULT_WATCH_MAX_ERROR_RATE = 0.05;

/**
 * A baseline needs at least this many times min_requests to be used as it is: with
 * fewer, the two-sample test can only catch gross regressions, and the record from
 * before the rollout is the better yardstick.
 */
export const WATCH_BASELINE_MIN_FACTOR = 10;

export type WatchBaselineKind = 'during-rollout' | 'before-rollout' | 'none';

export interface WatchBaseline {
  kind: WatchBaselineKind;
  /** The previous release's window the new release is compared with (empty for 'none'). */
  window: AnalysisWindow;
  /** One line for events and rollback reasons: which record, and how many requests it holds. */
  description: string;
}

export interface ChooseWatchBaselineInput {
  previousNumber: number;
  /** The previous release's window from the rollout's start to its end; null when unknown. */
  duringRollout: AnalysisWindow | null;
  /** Its window over the minutes before the rollout began; null when none was sampled. */
  beforeRollout: AnalysisWindow | null;
  /** How long `beforeRollout` spans, for the description. */
  beforeSpanMs: number;
  minRequests: number;
}

const EMPTY: AnalysisWindow = { requests: 0, errors: 0 };

/** The during-rollout record when it is thick enough, else whichever of the two holds more requests. */
export function chooseWatchBaseline(i: ChooseWatchBaselineInput): WatchBaseline {
  const enough = Math.max(1, i.minRequests) * WATCH_BASELINE_MIN_FACTOR;
  const during = i.duringRollout;
  const before = i.beforeRollout;
  const name = `#${i.previousNumber}`;
  const seconds = Math.max(1, Math.round(i.beforeSpanMs / 1000));
  const describeDuring = (w: AnalysisWindow) => `${name} during the rollout (${w.requests} requests, ${w.errors} errors)`;
  const describeBefore = (w: AnalysisWindow) => `${name} in the ${seconds}s before the rollout (${w.requests} requests, ${w.errors} errors)`;
  if (during && during.requests >= enough) return { kind: 'during-rollout', window: during, description: describeDuring(during) };
  if (before && before.requests > (during?.requests ?? 0)) return { kind: 'before-rollout', window: before, description: describeBefore(before) };
  if (during && during.requests > 0) return { kind: 'during-rollout', window: during, description: describeDuring(during) };
  return { kind: 'none', window: EMPTY, description: `no record of ${name} serving requests` };
}

/**
 * The spec a watch judges with: the environment's analysis, plus the absolute floor
 * on the error rate (kept at the stricter of the two when error_rate.max is set).
 * The floor is one more sequential check, so alpha is shared with it.
 */
export function watchSpec(spec: AnalysisSpec, maxErrorRate: number): AnalysisSpec {
  if (!(maxErrorRate < 1)) return spec; // 100%: the floor is off
  const max = spec.errorRate?.max === undefined ? maxErrorRate : Math.min(spec.errorRate.max, maxErrorRate);
  return { ...spec, errorRate: { ...spec.errorRate, max } };
}

/** At most this many starts a watch judges from: its own start and the later ones. */
export const WATCH_MAX_STARTS = 6;
/** Later starts are at least this far apart. */
export const WATCH_MIN_START_SPACING_MS = 30_000;

/**
 * When a watch of `watchMs` begins judging afresh, as offsets from its start (the
 * first is 0). Judged only from its start, a release that goes bad late is diluted
 * by the good requests before (0.5% errors for 20 minutes then 3% for 10 is 1.33%
 * overall); judged also from later starts, it is not. Each start is a sequential
 * test of its own, valid from that start on, so a watch shares its false-alarm
 * rate among them (watchStartSpec).
 */
export function watchStartOffsets(watchMs: number): number[] {
  if (!(watchMs > 0)) return [0];
  const spacing = Math.max(watchMs / WATCH_MAX_STARTS, WATCH_MIN_START_SPACING_MS);
  const offsets: number[] = [];
  for (let at = 0; at < watchMs && offsets.length < WATCH_MAX_STARTS; at += spacing) offsets.push(Math.round(at));
  return offsets;
}

/** The spec each start of a watch judges with: the watch's, its false-alarm rate shared among `starts` (a union bound). */
export function watchStartSpec(spec: AnalysisSpec, starts: number): AnalysisSpec {
  return { ...spec, alpha: spec.alpha / Math.max(1, starts) };
}
