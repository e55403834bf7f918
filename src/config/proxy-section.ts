// An environment's `proxy:`: the limits slipway's router applies to its traffic,
// which proxies in front it believes about the client (X-Forwarded-*, and the
// PROXY protocol header of a TCP load balancer), and past which duration a request
// is a "long request" that latency analysis leaves out.
// The defaults are at least as generous as nginx's (60 s read timeout, 1 MB body):
// a limit a working app trips over on its first long request is worse than none.

import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { parseDurationMs } from '../core/duration.ts';
import type { ProxyProtocolMode, ProxySettings } from '../core/service-config.ts';
import { field, refusal } from './fields.ts';
import { section } from './section.ts';

export const PROXY_DEFAULTS = {
  response_timeout: '60s',
  idle_timeout: '300s',
  max_body: '100MB',
  trust_forwarded: ['127.0.0.0/8', '::1'],
  proxy_protocol: 'off',
  long_request: 'off',
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

/** `off` (or `false`: YAML 1.1 habits) turns a feature off; the key's absence does too. */
const isOff = (v: unknown): boolean => v === false || (typeof v === 'string' && v.trim().toLowerCase() === 'off');

const proxyProtocol = field('off, v1, v2 or any', (v): ProxyProtocolMode | 'off' | null => {
  if (isOff(v)) return 'off';
  return v === 'v1' || v === 'v2' || v === 'any' ? v : null;
});

const longRequest = field('off, or a duration from 1ms to 24h with a unit, such as 30s', (v): number | 'off' | null => {
  if (isOff(v)) return 'off';
  if (typeof v !== 'string' || /^\s*[\d.]+\s*$/.test(v)) return null;
  const ms = parseDurationMs(v);
  return ms !== null && ms > 0 && ms <= MAX_TIMEOUT_MS ? ms : null;
});

/** Written `proxy:` with nothing under it reads as all defaults (schema.ts wraps it so). */
export const proxySection = section({
  response_timeout: timeout.prefault(PROXY_DEFAULTS.response_timeout),
  idle_timeout: timeout.prefault(PROXY_DEFAULTS.idle_timeout),
  max_body: bodySize.prefault(PROXY_DEFAULTS.max_body),
  // `trust_forwarded:` with nothing after it trusts nobody, like `[]`: the safe reading.
  trust_forwarded: z.preprocess((v) => (v === null ? [] : v), trustList).prefault([...PROXY_DEFAULTS.trust_forwarded]),
  proxy_protocol: proxyProtocol.prefault(PROXY_DEFAULTS.proxy_protocol),
  long_request: longRequest.prefault(PROXY_DEFAULTS.long_request),
}).transform((p): ProxySettings => ({
  responseTimeoutMs: p.response_timeout,
  idleTimeoutMs: p.idle_timeout,
  maxBodyBytes: p.max_body,
  trustForwarded: p.trust_forwarded,
  // Left out when off, so a release's route table (and its digest) is as before these keys existed.
  ...(p.proxy_protocol === 'off' ? {} : { proxyProtocol: p.proxy_protocol }),
  ...(p.long_request === 'off' ? {} : { longRequestMs: p.long_request }),
}));
