// Freeze windows: is a production deploy allowed at `nowMs`, and if not, until when
// and why. Pure: the time is a parameter.

import { Cron } from 'croner';
import type { FreezeWindow } from '../service-config.ts';

export interface OpenFreeze {
  window: FreezeWindow;
  /** When this window opened. */
  sinceMs: number;
  /** When it closes. */
  untilMs: number;
}

/** The windows open at nowMs (possibly several, overlapping). */
export function openFreezes(windows: FreezeWindow[], nowMs: number): OpenFreeze[] {
  const open: OpenFreeze[] = [];
  for (const w of windows) {
    if ('fromMs' in w) {
      if (w.fromMs <= nowMs && nowMs < w.untilMs) open.push({ window: w, sinceMs: w.fromMs, untilMs: w.untilMs });
      continue;
    }
    const cron = new Cron(w.cron, { paused: true, timezone: w.timezone });
    // The newest start at or before now; a start within the next second (croner counts in whole seconds) is skipped.
    const start = cron.previousRuns(2, new Date(nowMs + 1000)).map((d) => d.getTime()).find((t) => t <= nowMs);
    if (start !== undefined && nowMs < start + w.durationMs) open.push({ window: w, sinceMs: start, untilMs: start + w.durationMs });
  }
  return open;
}

/** One line for a person: which window, since when, until when. */
export function describeFreeze(f: OpenFreeze): string {
  const what = 'cron' in f.window ? `freeze "${f.window.cron}" (${f.window.timezone})` : 'freeze';
  const why = f.window.reason ? `: ${f.window.reason}` : '';
  return `${what} from ${new Date(f.sinceMs).toISOString()} until ${new Date(f.untilMs).toISOString()}${why}`;
}

export type FreezeDecision =
  | { kind: 'open' }
  /** Every open window lets a run wait: go on at `untilMs` (the latest close). */
  | { kind: 'wait'; untilMs: number; text: string }
  /** A window that refuses is open: the run fails. */
  | { kind: 'refuse'; text: string };

/** What a pipeline run's production stage does at nowMs. */
export function freezeDecision(windows: FreezeWindow[], nowMs: number): FreezeDecision {
  const open = openFreezes(windows, nowMs);
  if (open.length === 0) return { kind: 'open' };
  const text = open.map(describeFreeze).join('; ');
  if (open.some((f) => f.window.action === 'refuse')) return { kind: 'refuse', text };
  return { kind: 'wait', untilMs: Math.max(...open.map((f) => f.untilMs)), text };
}
