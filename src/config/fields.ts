// The leaf values of slipway.yaml, parsed by hand so that every refusal reads the
// same way: "expected <what is allowed>, got <what was written>". The zod schema in
// schema.ts arranges these leaves; nothing here knows where a field sits.

import { z } from 'zod';
import { parseCountOrPercent, parseDurationMs } from '../core/duration.ts';
import type { CountOrPercent } from '../core/duration.ts';
import type { ListenAddress } from '../core/service-config.ts';
import { joinShellWords, splitShellWords } from './shell-words.ts';

export const DEFAULT_LISTEN_HOST = '127.0.0.1';

export const SERVICE_NAME = /^[a-z][a-z0-9-]{0,62}$/;
export const ENVIRONMENT_NAME = /^[a-z][a-z0-9-]{0,30}$/;
export const ENV_VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** How a written value is named in a message: strings quoted, collections by kind. */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  return String(v);
}

export function refusal(expected: string, input: unknown): string {
  if (input === undefined) return `missing; expected ${expected}`;
  return `expected ${expected}, got ${describeValue(input)}`;
}

/** A leaf: `parse` returns null to refuse; `undefined` (a missing key) is refused too. */
export function field<T>(expected: string, parse: (v: unknown) => T | null) {
  return z.unknown().transform((v, ctx): T => {
    const out = v === undefined ? null : parse(v);
    if (out !== null) return out;
    ctx.addIssue({ code: 'custom', message: refusal(expected, v) });
    return z.NEVER;
  });
}

export function matching(expected: string, pattern: RegExp) {
  return field(expected, (v) => (typeof v === 'string' && pattern.test(v) ? v : null));
}

export function wholeNumber(min: number, max = Infinity) {
  const range = max === Infinity ? `of at least ${min}` : `from ${min} to ${max}`;
  return field(`a whole number ${range}`, (v) =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : null,
  );
}

const DURATION_EXPECTED = 'a duration above zero with a unit, such as 250ms, 1s or 2m';

// A bare number is refused although parseDurationMs reads it as milliseconds:
// in a YAML file `timeout: 5` almost always means seconds, so ask for a unit.
function durationOf(v: unknown): number | null {
  if (typeof v !== 'string' || /^\s*[\d.]+\s*$/.test(v)) return null;
  const ms = parseDurationMs(v);
  return ms !== null && ms > 0 ? ms : null;
}

/**
 * Node fires a timer set beyond 2^31-1 ms (24.8 days) after 1 ms instead (a
 * TimeoutOverflowWarning), so `kill_timeout: 600h` would kill at once: a duration
 * that becomes a timer is at most 24 days.
 */
export const MAX_TIMER_MS = 24 * 86_400_000;

function boundedDuration(maxMs: number, most: string) {
  return z.unknown().transform((v, ctx): number => {
    const ms = v === undefined ? null : durationOf(v);
    if (ms !== null && ms <= maxMs) return ms;
    const message = ms === null ? refusal(DURATION_EXPECTED, v) : `${describeValue(v)} is too long; give at most ${most}`;
    ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  });
}

export const durationMs = boundedDuration(MAX_TIMER_MS, '24d, the longest timer slipway can set');

/** For spans compared with the clock, never set as a timer (a freeze window, a certificate's renewal margin). */
export const longDurationMs = boundedDuration(3650 * 86_400_000, '3650d');

function countOrPercentOf(v: unknown): CountOrPercent | null {
  return typeof v === 'string' || typeof v === 'number' ? parseCountOrPercent(v) : null;
}

export const countOrPercent = field(
  'a count (e.g. 2) or a percentage (e.g. 25%)',
  countOrPercentOf,
);

/** Like countOrPercent, but zero (or 0%) would make no progress. */
export const positiveCountOrPercent = field(
  'a count of at least 1 (e.g. 2) or a percentage above 0% (e.g. 25%)',
  (v) => {
    const c = countOrPercentOf(v);
    if (c === null) return null;
    return ('count' in c ? c.count >= 1 : c.percent > 0) ? c : null;
  },
);

function portOf(text: string): number | null {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  return port >= 1 && port <= 65535 ? port : null;
}

/** "127.0.0.1:8080", "localhost:8080", "[::1]:8080", "8080" or 8080. */
export function parseListen(v: unknown): ListenAddress | null {
  const text = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim() : null;
  if (text === null) return null;
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):([^:]*)$/.exec(text);
  const host = m ? (m[1] ?? m[2]!) : DEFAULT_LISTEN_HOST;
  const port = portOf(m ? m[3]! : text);
  return port === null ? null : { host, port };
}

export const listenAddress = field(
  'host:port (e.g. 127.0.0.1:8080) or a port number from 1 to 65535',
  parseListen,
);

export const configValue = field('a string, number or boolean', (v) =>
  typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : null,
);

const COMMAND_EXPECTED = 'a command line (e.g. node server.js) or a list of arguments';

/** `run.command`: a string split without a shell, or an argv list taken as is. */
export const command = z.unknown().transform((v, ctx) => {
  let argv: string[];
  if (typeof v === 'string') {
    const split = splitShellWords(v);
    if (!split.ok) {
      ctx.addIssue({ code: 'custom', message: `${split.error} at character ${split.index + 1} of the command` });
      return z.NEVER;
    }
    argv = split.words;
  } else if (Array.isArray(v) && v.every((a): a is string => typeof a === 'string')) {
    argv = v;
  } else {
    const expected = Array.isArray(v) ? `${COMMAND_EXPECTED} (every item a string)` : COMMAND_EXPECTED;
    ctx.addIssue({ code: 'custom', message: refusal(expected, v) });
    return z.NEVER;
  }
  if (argv.length === 0 || argv[0] === '') {
    ctx.addIssue({ code: 'custom', message: `the program to run is empty; expected ${COMMAND_EXPECTED}` });
    return z.NEVER;
  }
  return { argv, command: typeof v === 'string' ? v.trim() : joinShellWords(argv) };
});
