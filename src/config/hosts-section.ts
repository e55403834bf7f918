// An environment's `hosts:`, `path_prefix:` and `strip_prefix:`: which requests on
// its listener are its own. With `hosts:` several environments (of one service or
// of many) may share one `listen:` address; the router picks the environment by
// the request's Host, then by the longest path prefix among that host's
// environments (core/listen-overlap.ts says who may share; src/router routes).

import { z } from 'zod';
import { refusal } from './fields.ts';

const HOST_EXPECTED = 'a host name such as shop.example.com, or a wildcard such as *.example.com';
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * A host pattern as the router matches it: lower case, no port, no scheme, no empty
 * label; `*` only as the whole first label. Returns why not as a string.
 */
export function parseHostPattern(v: unknown): { host: string } | { why: string } {
  if (typeof v !== 'string') return { why: '' };
  const text = v.trim().toLowerCase();
  if (text.includes('://')) return { why: 'no scheme: write the name alone' };
  if (text.includes('/')) return { why: 'no path: give the path in path_prefix' };
  if (text.includes(':') || text.startsWith('[')) return { why: 'no port: the port is the one in listen' };
  if (text.length > 253) return { why: 'at most 253 characters' };
  const labels = text.split('.');
  if (labels.some((l) => l === '')) return { why: 'no empty labels (no leading, trailing or double dot)' };
  const [first, ...rest] = labels;
  if (first === '*') {
    if (rest.length === 0) return { why: 'a wildcard needs a domain after it, as in *.example.com' };
  } else if (text.includes('*')) {
    return { why: 'a wildcard is the whole first label, as in *.example.com' };
  }
  const bad = (first === '*' ? rest : labels).find((l) => !LABEL.test(l));
  if (bad !== undefined) return { why: `"${bad}" is not a label: letters, digits and - (not first or last), at most 63 characters` };
  return { host: text };
}

const hostPattern = z.unknown().transform((v, ctx): string => {
  const parsed = parseHostPattern(v);
  if ('host' in parsed) return parsed.host;
  ctx.addIssue({ code: 'custom', message: `${refusal(HOST_EXPECTED, v)}${parsed.why ? ` (${parsed.why})` : ''}` });
  return z.NEVER;
});

/** `hosts:` a non-empty list of host patterns, none twice (in any case). */
export const hostsSection = z
  .array(hostPattern, { error: (iss) => refusal(`a list of host names (${HOST_EXPECTED})`, iss.input) })
  .superRefine((hosts, ctx) => {
    if (hosts.length === 0) ctx.addIssue({ code: 'custom', message: 'list at least one host name, or leave hosts: out to keep the listener to this environment alone' });
    hosts.forEach((h, i) => {
      if (hosts.indexOf(h) < i) ctx.addIssue({ code: 'custom', path: [i], message: `"${h}" is listed twice` });
    });
  });

const PATH_EXPECTED = 'a URL path starting with /, such as /api';
// RFC 3986 path characters; a % only as an escape.
const PATH_CHARS = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*$/;

/** `path_prefix:` as the router matches it: no trailing `/` (but `/` itself), no query, no `.`/`..` or empty segment. */
export function parsePathPrefix(v: unknown): { path: string } | { why: string } {
  if (typeof v !== 'string') return { why: '' };
  const text = v.trim();
  if (!text.startsWith('/')) return { why: 'it must start with /' };
  if (text.includes('?') || text.includes('#')) return { why: 'no query or fragment: a prefix is matched against the path alone' };
  if (!PATH_CHARS.test(text)) return { why: 'only URL path characters; write a space or other character as a %XX escape' };
  const path = text.length > 1 ? text.replace(/\/+$/, '') || '/' : text;
  const segments = path.split('/').slice(1);
  if (path !== '/' && segments.some((s) => s === '' || s === '.' || s === '..')) return { why: 'no empty, . or .. segment' };
  return { path };
}

export const pathPrefixField = z.unknown().transform((v, ctx): string => {
  const parsed = parsePathPrefix(v);
  if ('path' in parsed) return parsed.path;
  ctx.addIssue({ code: 'custom', message: `${refusal(PATH_EXPECTED, v)}${parsed.why ? ` (${parsed.why})` : ''}` });
  return z.NEVER;
});

export const stripPrefixField = z.unknown().transform((v, ctx): boolean => {
  if (typeof v === 'boolean') return v;
  ctx.addIssue({ code: 'custom', message: refusal('true or false', v) });
  return z.NEVER;
});

/** The environment's keys of this section, spread into its shape in schema.ts. */
export const hostRoutingShape = {
  hosts: hostsSection.optional(),
  path_prefix: pathPrefixField.optional(),
  strip_prefix: stripPrefixField.optional(),
};

/** The ServiceConfig fields, present only when written (so releases that do not use them hash as before). */
export function hostRouting(e: { hosts?: string[] | undefined; path_prefix?: string | undefined; strip_prefix?: boolean | undefined }): { hosts?: string[]; pathPrefix?: { path: string; strip: boolean } } {
  return {
    ...(e.hosts !== undefined ? { hosts: e.hosts } : {}),
    ...(e.path_prefix !== undefined ? { pathPrefix: { path: e.path_prefix, strip: e.strip_prefix ?? false } } : {}),
  };
}
