// Whether two listen addresses cannot both be bound on one machine. The one rule
// behind slipway.yaml's check across environments (config), the router's choice of
// who keeps an address (router) and the engine's refusal of a deploy onto an
// address another environment holds (engine): three answers to one question must
// not drift apart.

import { canonicalAddress } from './ip-address.ts';
import type { ListenAddress } from './service-config.ts';

const EVERY_HOST = '*';

/**
 * Two listeners overlap when they share a port and a host, counting `0.0.0.0` and
 * `::` (in any spelling) as every host (a wildcard bind takes the port on all
 * addresses, and on Linux it and any specific bind of that port exclude each other)
 * and `localhost` as both loopback addresses, since it may resolve to either.
 * Port 0 never overlaps: each bind of it gets a fresh port.
 */
export function listenersOverlap(a: ListenAddress, b: ListenAddress): boolean {
  if (a.port === 0 || a.port !== b.port) return false;
  const ha = hostForms(a.host);
  const hb = hostForms(b.host);
  if (ha.has(EVERY_HOST) || hb.has(EVERY_HOST)) return true;
  for (const h of ha) if (hb.has(h)) return true;
  return false;
}

/** Every spelling of a host that a bind can collide on: IP literals canonical (IPv4-mapped as IPv4), names lowercased. */
function hostForms(host: string): Set<string> {
  const h = host.trim().toLowerCase();
  if (h === 'localhost') return new Set([canonicalAddress('127.0.0.1'), canonicalAddress('::1')]);
  const c = canonicalAddress(h);
  return new Set([c === canonicalAddress('0.0.0.0') || c === canonicalAddress('::') ? EVERY_HOST : c]);
}
