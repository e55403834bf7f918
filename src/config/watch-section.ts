// An environment's `watch:`: how long after a rollout succeeds a regression still
// rolls the environment back, and the error rate that fails a watched release
// whatever its baseline did. `watch: 2m` is short for `watch: { duration: 2m }`.

import { z } from 'zod';
import { DEFAULT_WATCH_MAX_ERROR_RATE } from '../core/analysis/index.ts';
import { DEFAULT_WATCH, rate } from './analysis.ts';
import { section } from './section.ts';
import { delayMs } from './strategies.ts';

export const watchSection = z.preprocess(
  (v) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v : { duration: v }),
  section({
    duration: delayMs.prefault(DEFAULT_WATCH),
    max_error_rate: rate.prefault(`${DEFAULT_WATCH_MAX_ERROR_RATE * 100}%`),
  }),
).transform((w) => ({ watchMs: w.duration, watchMaxErrorRate: w.max_error_rate }));
