// The `shadow:` step of canary and blue-green strategies (core/shadow/shadow-spec.ts).
// Refusals name the key and what is allowed; a method that is not safe is taken
// only when written by name, and a header that carries credentials never.

import { z } from 'zod';
import { SAFE_METHODS, SECRET_HEADERS, SHADOW_DEFAULTS, type ShadowSpec } from '../core/shadow/shadow-spec.ts';
import { rate } from './analysis.ts';
import { durationMs, field, wholeNumber } from './fields.ts';
import { section } from './section.ts';

const METHODS = ['GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH', 'DELETE'];
/** `/`, segments of URL characters, `*` for one segment or (last) everything below. */
const PATH_PATTERN = /^\/(?:[A-Za-z0-9._~!$&'()+,;=:@%*-]+(?:\/[A-Za-z0-9._~!$&'()+,;=:@%*-]+)*)?\/?$/;
/** `/status`, `/headers/<name>`, `/body[/...]`. */
const FIELD_PATTERN = /^\/(status|headers\/[a-z0-9!#$%&'*+.^_`|~-]+|body(\/[^\s]*)?)$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/;

export function listOf(expected: string, item: (v: unknown) => string | null) {
  return z.unknown().transform((v, ctx): string[] => {
    if (!Array.isArray(v) || v.length === 0) {
      ctx.addIssue({ code: 'custom', message: `expected a non-empty list of ${expected}, got ${Array.isArray(v) ? 'an empty list' : JSON.stringify(v) ?? 'nothing'}` });
      return z.NEVER;
    }
    const out: string[] = [];
    v.forEach((x, i) => {
      const parsed = item(x);
      if (parsed === null) ctx.addIssue({ code: 'custom', path: [i], message: `expected ${expected}, got ${JSON.stringify(x)}` });
      else out.push(parsed);
    });
    return [...new Set(out)];
  });
}

export const methods = listOf(`HTTP methods (${METHODS.join(', ')})`, (v) => (typeof v === 'string' && METHODS.includes(v.toUpperCase()) ? v.toUpperCase() : null));
export const paths = listOf('path patterns such as /api/* or /items/*/price', (v) => (typeof v === 'string' && PATH_PATTERN.test(v) ? v : null));
export const ignore = listOf('field paths such as /body/updatedAt, /body/items/*/id or /headers/etag', (v) => (typeof v === 'string' && FIELD_PATTERN.test(v) ? v.replace(/\/+$/, '') : null));
export const headers = listOf('response header names such as content-type', (v) => (typeof v === 'string' && HEADER_NAME.test(v) ? v.toLowerCase() : null));

export const percent = field('a share of requests above 0% and at most 100%, such as 20 or 20%', (v) => {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+(\.\d+)?\s*%\s*$/.test(v) ? Number.parseFloat(v) : NaN;
  return n > 0 && n <= 100 ? n : null;
});

export const byteSize = field('a size such as 256kb or 1mb (at most 16mb)', (v) => {
  const m = typeof v === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb)\s*$/i.exec(v) : null;
  if (!m) return null;
  const bytes = Math.round(Number(m[1]) * { b: 1, kb: 1024, mb: 1024 * 1024 }[m[2]!.toLowerCase() as 'b' | 'kb' | 'mb']);
  return bytes >= 1 && bytes <= 16 * 1024 * 1024 ? bytes : null;
});

export const shadowSection = section({
  duration: durationMs,
  percent: percent.optional(),
  methods: methods.optional(),
  paths: paths.optional(),
  ignore: ignore.optional(),
  headers: headers.optional(),
  max_diff_rate: rate.optional(),
  min_requests: wholeNumber(1).optional(),
  inconclusive: field('one of pass, fail', (v) => (v === 'pass' || v === 'fail' ? v : null)).optional(),
  max_in_flight: wholeNumber(1, 10_000).optional(),
  max_body: byteSize.optional(),
})
  .superRefine((s, ctx) => {
    (s.headers ?? []).forEach((h, i) => {
      if (SECRET_HEADERS.includes(h)) ctx.addIssue({ code: 'custom', path: ['headers', i], message: `"${h}" carries credentials: slipway never compares nor shows it; leave it out` });
    });
  })
  .transform((s): ShadowSpec => ({
    durationMs: s.duration,
    percent: s.percent ?? SHADOW_DEFAULTS.percent,
    methods: s.methods ?? [...SHADOW_DEFAULTS.methods],
    paths: s.paths ?? [...SHADOW_DEFAULTS.paths],
    ignore: s.ignore ?? [],
    headers: s.headers ?? [...SHADOW_DEFAULTS.headers],
    maxDiffRate: s.max_diff_rate ?? SHADOW_DEFAULTS.maxDiffRate,
    minRequests: s.min_requests ?? SHADOW_DEFAULTS.minRequests,
    inconclusive: s.inconclusive ?? SHADOW_DEFAULTS.inconclusive,
    maxInFlight: s.max_in_flight ?? SHADOW_DEFAULTS.maxInFlight,
    maxBodyBytes: s.max_body ?? SHADOW_DEFAULTS.maxBodyBytes,
  }));

