// An environment's `proxy:`: the limits slipway's router applies to its traffic,
// and which proxies in front it believes about the client (X-Forwarded-*).
// The defaults are at least as generous as nginx's (60 s read timeout, 1 MB body):
// a limit a working app trips over on its first long request is worse than none.

import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { parseDurationMs } from '../core/duration.ts';
import type { ProxySettings } from '../core/service-config.ts';
import { field, refusal } from './fields.ts';
import { section } from './section.ts';

export const PROXY_DEFAULTS = {
  response_timeout: '60s',
  idle_timeout: '300s',
  max_body: '100MB',
  trust_forwarded: ['127.0.0.0/8', '::1'],
} as const;

/** Node's timers hold at most 2^31-1 ms (24.8 days); longer ones fire at once. A day is plenty. */
const MAX_TIMEOUT_MS = 86_400_000;

const timeout = field('a duration from 1ms to 24h with a unit, such as 60s or 5m', (v) => {
  // A bare number is refused (as everywhere in slipway.yaml): `60` could be seconds or ms.
  if (typeof v !== 'string' || /^\s*[\d.]+\s*$/.test(v)) return null;
  const ms = parseDurationMs(v);
  return ms !== null && ms > 0 && ms <= MAX_TIMEOUT_MS ? ms : null;
});

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4 };

/** "100MB", "512KB", "2GB" (powers of 1024), from 1KB to 1TB; null otherwise. */
export function parseBodySize(v: unknown): number | null {
  if (typeof v !== 'string') return null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb)\s*$/i.exec(v);
  if (!m) return null;
  const bytes = Math.floor(Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!);
  return bytes >= 1024 && bytes <= 1024 ** 4 ? bytes : null;
}

const bodySize = field('a size from 1KB to 1TB with a unit (KB, MB, GB, TB), such as 100MB', parseBodySize);

/** "10.0.0.0/8", "192.168.1.7", "::1", "fd00::/8": an address or a network, as text the router reads back. */
export function parseTrustedSource(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const text = v.trim();
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const bits = isIPv4(address) ? 32 : isIPv6(address) ? 128 : 0;
  if (bits === 0) return null;
  if (slash < 0) return address;
  const prefix = text.slice(slash + 1);
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= bits ? `${address}/${Number(prefix)}` : null;
}

const trustedSource = field('an IP address or a CIDR such as 10.0.0.0/8, 192.168.1.7 or ::1', parseTrustedSource);

const trustList = z.array(trustedSource, {
  error: (iss) => refusal('a list of IP addresses or CIDRs (an empty list trusts no proxy)', iss.input),
});

/** Written `proxy:` with nothing under it reads as all defaults (schema.ts wraps it so). */
export const proxySection = section({
  response_timeout: timeout.prefault(PROXY_DEFAULTS.response_timeout),
  idle_timeout: timeout.prefault(PROXY_DEFAULTS.idle_timeout),
  max_body: bodySize.prefault(PROXY_DEFAULTS.max_body),
  // `trust_forwarded:` with nothing after it trusts nobody, like `[]`: the safe reading.
  trust_forwarded: z.preprocess((v) => (v === null ? [] : v), trustList).prefault([...PROXY_DEFAULTS.trust_forwarded]),
}).transform((p): ProxySettings => ({
  responseTimeoutMs: p.response_timeout,
  idleTimeoutMs: p.idle_timeout,
  maxBodyBytes: p.max_body,
  trustForwarded: p.trust_forwarded,
}));
