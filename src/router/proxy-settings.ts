// An environment's proxy settings as the hot path uses them: the limits in ms and
// bytes, the answers that name them (built once per table), and whether a peer is
// a proxy whose forwarded headers are believed.

import { isIPv6 } from 'node:net';
import type { ProxyProtocolMode, ProxySettings } from '../core/service-config.ts';
import { limitAnswers, type LimitAnswers } from './router-answers.ts';
import type { ProxyRoutes } from './route-table.ts';

/**
 * What applies when the table carries no `proxy` (a table from a server before it
 * existed, a release made before slipway.yaml had `proxy:`). The same values as
 * PROXY_DEFAULTS in src/config/proxy-section.ts (test/router-limits.test.ts checks).
 */
export const DEFAULT_PROXY_SETTINGS: ProxySettings & ProxyRoutes = {
  responseTimeoutMs: 60_000,
  idleTimeoutMs: 300_000,
  maxBodyBytes: 100 * 1024 ** 2,
  trustForwarded: ['127.0.0.0/8', '::1'],
};

export interface EnvProxy extends LimitAnswers {
  readonly responseTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxBodyBytes: number;
  /** Whether a peer's X-Forwarded-* and Forwarded headers are kept (it is a proxy in trust_forwarded). */
  isTrusted(peer: string | undefined): boolean;
  /** Which PROXY protocol headers the environment's listener reads from a trusted peer; null: none. */
  readonly proxyProtocol: ProxyProtocolMode | null;
  /** A request longer than this is counted as a long one, out of the latency histogram; Infinity: none is. */
  readonly longRequestMs: number;
}

export function resolveProxySettings(settings: ProxyRoutes | undefined): EnvProxy {
  const s = settings ?? DEFAULT_PROXY_SETTINGS;
  return {
    responseTimeoutMs: s.responseTimeoutMs,
    idleTimeoutMs: s.idleTimeoutMs,
    maxBodyBytes: s.maxBodyBytes,
    isTrusted: trustMatcher(s.trustForwarded),
    proxyProtocol: s.proxyProtocol ?? null,
    longRequestMs: s.longRequestMs ?? Infinity,
    ...limitAnswers(s),
  };
}

/**
 * Entries are checked by the table's schema (isAddressOrCidr): an address or
 * address/prefix. Written out rather than node's BlockList, whose check() costs
 * about 8 µs (it builds a SocketAddress each call), a sixth of a whole proxied
 * request; this one is a few dozen ns for an IPv4 peer.
 */
export function trustMatcher(entries: readonly string[]): (peer: string | undefined) => boolean {
  if (entries.length === 0) return () => false;
  const v4: { net: number; mask: number }[] = [];
  const v6: { groups: number[]; prefix: number }[] = [];
  for (const entry of entries) {
    const [address, prefixText] = entry.split('/');
    const asV4 = ipv4ToInt(address!);
    if (asV4 !== null) {
      const prefix = prefixText === undefined ? 32 : Number(prefixText);
      const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
      v4.push({ net: (asV4 & mask) >>> 0, mask });
      continue;
    }
    const groups = ipv6Groups(address!);
    // An IPv4-mapped rule (::ffff:10.0.0.0/104) is an IPv4 rule.
    if (groups !== null && isV4Mapped(groups) && (prefixText === undefined || Number(prefixText) >= 96)) {
      const prefix = prefixText === undefined ? 32 : Number(prefixText) - 96;
      const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
      v4.push({ net: ((((groups[6]! << 16) | groups[7]!) >>> 0) & mask) >>> 0, mask });
    } else if (groups !== null) {
      v6.push({ groups, prefix: prefixText === undefined ? 128 : Number(prefixText) });
    }
  }
  return (peer) => {
    if (peer === undefined) return false;
    // A dual-stack listener ("::") sees IPv4 clients as ::ffff:a.b.c.d; IPv4 rules must match them.
    const text = peer.startsWith('::ffff:') && peer.includes('.') ? peer.slice(7) : peer;
    const asV4 = ipv4ToInt(text);
    if (asV4 !== null) return v4.some((r) => ((asV4 & r.mask) >>> 0) === r.net);
    const groups = ipv6Groups(text);
    return groups !== null && v6.some((r) => inPrefix(groups, r.groups, r.prefix));
  };
}

/** "10.1.2.3" → its 32-bit value; null when not a dotted IPv4 address. */
function ipv4ToInt(text: string): number | null {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || part > 255) return null;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      part = part * 10 + (c - 48);
      digits++;
    } else {
      return null;
    }
  }
  if (dots !== 3 || digits === 0 || part > 255) return null;
  return value * 256 + part;
}

/** The eight 16-bit groups of an IPv6 address (a zone index ignored); null when not one. */
function ipv6Groups(text: string): number[] | null {
  if (!isIPv6(text)) return null;
  let bare = text.replace(/%.*$/, '');
  // A trailing dotted IPv4 part (::ffff:10.0.0.1) is two groups written another way.
  const lastColon = bare.lastIndexOf(':');
  const v4 = ipv4ToInt(bare.slice(lastColon + 1));
  if (v4 !== null) bare = `${bare.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  const halves = bare.split('::');
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const left = parse(halves[0]!);
  const right = halves.length === 2 ? parse(halves[1]!) : [];
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}

function isV4Mapped(g: number[]): boolean {
  return g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff;
}

function inPrefix(address: number[], network: number[], prefix: number): boolean {
  for (let i = 0, bits = prefix; bits > 0; i++, bits -= 16) {
    const mask = bits >= 16 ? 0xffff : (0xffff << (16 - bits)) & 0xffff;
    if ((address[i]! & mask) !== (network[i]! & mask)) return false;
  }
  return true;
}
