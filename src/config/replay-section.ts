// An environment's `record:` and the pipeline's `replay:` in slipway.yaml
// (core/shadow/replay-spec.ts): which requests the router records, how they are
// anonymised, and how the replay stage judges staging's answers. Refusals name the key and what is allowed; a method that
// is not safe is recorded only when written by name, and a header that carries
// credentials never.

import { z } from 'zod';
import { RECORD_DEFAULTS, REPLAY_DEFAULTS, REPLAY_LIMITS, type RecordSpec, type ReplaySpec } from '../core/shadow/replay-spec.ts';
import { SECRET_HEADERS } from '../core/shadow/shadow-spec.ts';
import { rate } from './analysis.ts';
import { durationMs, field, wholeNumber } from './fields.ts';
import { section } from './section.ts';
import { headers as responseHeaders, ignore, listOf, methods, paths, percent } from './shadow-section.ts';

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/;

const requestHeaders = listOf('request header names such as accept', (v) => (typeof v === 'string' && HEADER_NAME.test(v) ? v.toLowerCase() : null));

const UNITS = { b: 1, kb: 1024, mb: 1024 * 1024 } as const;

function sizeField(min: number, max: number) {
  return field(`a size such as 64kb or 1mb, from ${min / 1024}kb to ${max / (1024 * 1024)}mb`, (v) => {
    const m = typeof v === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb)\s*$/i.exec(v) : null;
    if (!m) return null;
    const bytes = Math.round(Number(m[1]) * UNITS[m[2]!.toLowerCase() as keyof typeof UNITS]);
    return bytes >= min && bytes <= max ? bytes : null;
  });
}

/** Each pattern must compile as a JavaScript regular expression and match something (an empty match would anonymise between every character). */
const patterns = z.unknown().transform((v, ctx): string[] => {
  if (!Array.isArray(v)) {
    ctx.addIssue({ code: 'custom', message: `expected a list of regular expressions, e.g. ['\\d{16}', 'user-[0-9]+'], got ${JSON.stringify(v) ?? 'nothing'}` });
    return z.NEVER;
  }
  if (v.length > REPLAY_LIMITS.maxPatterns) {
    ctx.addIssue({ code: 'custom', message: `at most ${REPLAY_LIMITS.maxPatterns} patterns, got ${v.length}` });
    return z.NEVER;
  }
  v.forEach((p, i) => {
    if (typeof p !== 'string' || p === '' || p.length > REPLAY_LIMITS.maxPatternLength) {
      ctx.addIssue({ code: 'custom', path: [i], message: `expected a regular expression of 1 to ${REPLAY_LIMITS.maxPatternLength} characters, got ${JSON.stringify(p)}` });
      return;
    }
    let re: RegExp;
    try {
      re = new RegExp(p, 'g');
    } catch (e) {
      ctx.addIssue({ code: 'custom', path: [i], message: `"${p}" is not a regular expression: ${(e as Error).message}` });
      return;
    }
    if (re.test('')) {
      ctx.addIssue({ code: 'custom', path: [i], message: `"${p}" matches the empty text, so it would anonymise everything; make it match at least one character` });
      return;
    }
    const nested = nestedRepetition(p);
    if (nested !== null) {
      ctx.addIssue({ code: 'custom', path: [i], message: `"${p}" repeats a group that itself repeats (${nested}): on some texts that takes time exponential in their length, and the router, shared by every service, runs it on each recorded request; repeat once, e.g. "(ab)+" or "[a-z0-9]+"` });
    }
  });
  return v as string[];
});

/**
 * The first group of a pattern that is repeated (`*`, `+`, `{n,}`) and holds a
 * repetition itself, such as `(a+)+` or `(\\w*x)*`: the shape that backtracks
 * exponentially. null when there is none. A pattern that compiled is scanned by its
 * syntax only: escapes and character classes are skipped.
 */
export function nestedRepetition(pattern: string): string | null {
  const open: { at: number; repeats: boolean }[] = [];
  const isRepeat = (i: number) => pattern[i] === '*' || pattern[i] === '+' || (pattern[i] === '{' && /^\{\d+,\d*\}/.test(pattern.slice(i)) && !/^\{(\d+),\1\}/.test(pattern.slice(i)));
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      i++;
    } else if (c === '[') {
      for (i++; i < pattern.length && pattern[i] !== ']'; i++) if (pattern[i] === '\\') i++;
    } else if (c === '(') {
      open.push({ at: i, repeats: false });
    } else if (c === ')') {
      const g = open.pop();
      if (!g) continue;
      if (g.repeats && isRepeat(i + 1)) return pattern.slice(g.at, i + 2);
      // A repeated group makes its enclosing group repeat too.
      if ((g.repeats || isRepeat(i + 1)) && open.length > 0) open[open.length - 1]!.repeats = true;
    } else if (isRepeat(i) && open.length > 0) {
      open[open.length - 1]!.repeats = true;
    }
  }
  return null;
}

/** An environment's `record:`: which requests the router records for replay (any environment may; the pipeline replays production's). */
export const recordSection = section({
  percent: percent.optional(),
  methods: methods.optional(),
  paths: paths.optional(),
  headers: requestHeaders.optional(),
  bodies: field('true or false', (v) => (typeof v === 'boolean' ? v : null)).optional(),
  anonymise: patterns.optional(),
  sample: wholeNumber(REPLAY_LIMITS.minSample, REPLAY_LIMITS.maxSample).optional(),
  max_bytes: sizeField(REPLAY_LIMITS.minBytes, REPLAY_LIMITS.maxBytes).optional(),
  max_body: sizeField(1024, 1024 * 1024).optional(),
})
  .superRefine((s, ctx) => {
    (s.headers ?? []).forEach((h, i) => {
      if (SECRET_HEADERS.includes(h)) ctx.addIssue({ code: 'custom', path: ['headers', i], message: `"${h}" carries credentials: slipway never records it (replayed requests go without it); leave it out` });
    });
    if (s.bodies === true && !(s.methods ?? []).some((m) => m !== 'GET' && m !== 'HEAD' && m !== 'OPTIONS')) {
      ctx.addIssue({ code: 'custom', path: ['bodies'], message: 'bodies: true records request bodies, which only methods listed by name (POST, PUT, PATCH, DELETE) carry; list one in methods, or leave bodies out' });
    }
  })
  .transform((s): RecordSpec => ({
    percent: s.percent ?? RECORD_DEFAULTS.percent,
    methods: s.methods ?? [...RECORD_DEFAULTS.methods],
    paths: s.paths ?? [...RECORD_DEFAULTS.paths],
    headers: s.headers ?? [...RECORD_DEFAULTS.headers],
    bodies: s.bodies ?? RECORD_DEFAULTS.bodies,
    anonymise: s.anonymise ?? [],
    sample: s.sample ?? RECORD_DEFAULTS.sample,
    maxBytes: s.max_bytes ?? RECORD_DEFAULTS.maxBytes,
    maxBodyBytes: s.max_body ?? RECORD_DEFAULTS.maxBodyBytes,
  }));

/** `pipeline.replay`: how the replay stage judges staging's answers to production's recorded requests. */
export const replaySection = section({
  ignore: ignore.optional(),
  compare_headers: responseHeaders.optional(),
  max_diff_rate: rate.optional(),
  min_requests: wholeNumber(1).optional(),
  inconclusive: field('one of pass, fail', (v) => (v === 'pass' || v === 'fail' ? v : null)).optional(),
  timeout: durationMs.optional(),
})
  .superRefine((s, ctx) => {
    (s.compare_headers ?? []).forEach((h, i) => {
      if (SECRET_HEADERS.includes(h)) ctx.addIssue({ code: 'custom', path: ['compare_headers', i], message: `"${h}" carries credentials: slipway never compares nor shows it; leave it out` });
    });
  })
  .transform((s): ReplaySpec => ({
    ignore: s.ignore ?? [],
    compareHeaders: s.compare_headers ?? [...REPLAY_DEFAULTS.compareHeaders],
    maxDiffRate: s.max_diff_rate ?? REPLAY_DEFAULTS.maxDiffRate,
    minRequests: s.min_requests ?? REPLAY_DEFAULTS.minRequests,
    inconclusive: s.inconclusive ?? REPLAY_DEFAULTS.inconclusive,
    timeoutMs: s.timeout ?? REPLAY_DEFAULTS.timeoutMs,
  }));
