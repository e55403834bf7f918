// What a recorded request may not carry to disk: values that look like credentials
// (JWTs, bearer and basic credentials, well-known API key shapes), e-mail addresses,
// the values of query parameters and JSON fields whose names say secret, and what
// the environment's own `anonymise` patterns match. Each is replaced by ANONYMISED
// before the record is written. Pure.

import { ANONYMISED, type ReplayRecord } from '../../core/shadow/replay-spec.ts';
import { splitUrl } from './shadow-match.ts';

/** Shapes of credentials and personal data replaced wherever they appear. */
const BUILT_IN = [
  /eyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){0,2}/g, // JWT
  /\b(?:Bearer|Basic|Digest|Token)\s+[^\s,;]+/gi,
  /\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{8,}/g, // Stripe-style keys
  /\bgh[pousr]_[A-Za-z0-9]{20,}/g, // GitHub tokens
  /\bxox[abprs]-[A-Za-z0-9-]{10,}/g, // Slack tokens
  /\bAKIA[0-9A-Z]{16}\b/g, // AWS access key ids
  // E-mail addresses. The look-behind starts a match only at the start of a run of
  // such characters: without it, a long run with no @ (a 100 kB body of letters) is
  // scanned again from each of its characters, which took 15 s and stalled the worker.
  /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g,
];

/** A query parameter or JSON field with such a name has its whole value replaced. */
const SECRET_NAME = /pass|secret|token|auth|cookie|session|credential|signature|api[-_]?key|private|^(key|code|sig|otp|nonce|ssn)$/i;

export interface Anonymiser {
  url(url: string): string;
  header(value: string): string;
  /** The body to keep, or null when it cannot be anonymised (not text): the request is then not recorded. */
  body(body: Buffer, contentType: string): Buffer | null;
}

export function anonymiser(patterns: readonly string[]): Anonymiser {
  const all = [...BUILT_IN, ...patterns.map((p) => new RegExp(p, 'g'))];
  const text = (s: string): string => all.reduce((t, re) => t.replace(re, ANONYMISED), s);
  const query = (q: string): string =>
    q.split('&').map((kv) => {
      const eq = kv.indexOf('=');
      if (eq < 0) return text(kv);
      const name = kv.slice(0, eq);
      if (SECRET_NAME.test(safeDecode(name))) return `${name}=${ANONYMISED}`;
      const raw = kv.slice(eq + 1);
      const value = safeDecode(raw);
      const masked = text(value);
      return `${text(name)}=${masked === value ? text(raw) : encodeURIComponent(masked)}`;
    }).join('&');
  return {
    url(url) {
      const { path, query: q } = splitUrl(url);
      return q === '' && !url.includes('?') ? text(path) : `${text(path)}?${query(q)}`;
    },
    header: text,
    body(body, contentType) {
      if (body.length === 0) return body;
      const s = body.toString('utf8');
      if (Buffer.byteLength(s) !== body.length || s.includes('\uFFFD')) return null; // not UTF-8 text
      if (contentType.includes('json')) {
        try {
          return Buffer.from(JSON.stringify(maskJson(JSON.parse(s), text)));
        } catch {
          // Not JSON after all: anonymised as text.
        }
      }
      if (contentType.includes('x-www-form-urlencoded')) return Buffer.from(query(s));
      return Buffer.from(text(s));
    },
  };
}

function maskJson(v: unknown, text: (s: string) => string): unknown {
  if (typeof v === 'string') return text(v);
  if (Array.isArray(v)) return v.map((x) => maskJson(x, text));
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, SECRET_NAME.test(k) && x !== null && typeof x !== 'object' ? ANONYMISED : maskJson(x, text)]));
  }
  return v;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/** A picked request as the recorder saw it, before anything of it was anonymised. */
export interface RawRecord {
  at: number;
  method: string;
  url: string;
  /** The kept request headers (lower-case names), values as sent. */
  headers: Record<string, string>;
  /** The body, when the request had one to record. */
  body?: Uint8Array;
  contentType: string;
}

/** The JSON line kept for `raw`, every part anonymised; null when its body cannot be (not text). */
export function anonymisedLine(a: Anonymiser, raw: RawRecord): string | null {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw.headers)) headers[name] = a.header(value);
  const record: ReplayRecord = { at: raw.at, method: raw.method, url: a.url(raw.url), headers };
  if (raw.body !== undefined) {
    const body = a.body(Buffer.from(raw.body.buffer, raw.body.byteOffset, raw.body.byteLength), raw.contentType);
    if (body === null) return null;
    record.body = body.toString('base64');
  }
  return JSON.stringify(record);
}
