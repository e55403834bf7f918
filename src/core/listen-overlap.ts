// Who may use a listen address beside whom. The one rule behind slipway.yaml's
// check across environments (config), the router's choice of who gets an address
// and who shares it (router) and the engine's refusal of a deploy onto an address
// or a host another environment holds (engine): three answers to one question must
// not drift apart.
//
// Two steps. Whether two addresses cannot both be bound (listenersOverlap); and,
// when they are the very same address, whether the two may share one listener
// instead: only when both are routed by host name (`hosts:`), and then only while
// no host and path prefix is claimed by both.

import { canonicalAddress } from './ip-address.ts';
import { formatListen, type ListenAddress } from './service-config.ts';

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

/**
 * A key for the one listener an address stands for: "HOST:PORT" with the host
 * canonical (`[0:0::1]:80` and `[::1]:80` are one listener); null for port 0, which is a
 * fresh listener at every bind. `localhost` is only itself: it may bind either
 * loopback address, so it is never the same listener as `127.0.0.1`.
 */
export function listenerIdentity(a: ListenAddress): string | null {
  if (a.port === 0) return null;
  const h = a.host.trim().toLowerCase();
  return formatListen({ host: h === 'localhost' ? h : canonicalAddress(h), port: a.port });
}

/** Whether two addresses are one listener, which environments routed by host may share. */
export function isSameListener(a: ListenAddress, b: ListenAddress): boolean {
  const id = listenerIdentity(a);
  return id !== null && id === listenerIdentity(b);
}

/** One use of a listen address: an environment's listener, or one never shared (a preview listener, the server's API). */
export interface ListenerUse {
  address: ListenAddress;
  /** Host names it is routed by (exact, or `*.` wildcards); absent or empty: it keeps the listener to itself. */
  hosts?: readonly string[];
  /** Its path prefix among its hosts' environments; absent: `/`, every path. */
  pathPrefix?: string;
}

export type ListenClash =
  /** The two cannot both be bound, and may not share one listener. */
  | { kind: 'address' }
  /** They may share the listener, but both are routed by this host and path prefix. */
  | { kind: 'route'; host: string; pathPrefix: string };

/**
 * Whether two uses of listen addresses cannot stand side by side. Addresses that do
 * not overlap never clash. Overlapping ones clash unless they are one listener and
 * both name hosts; then they clash only on a host pattern both name (the same name,
 * or the same wildcard) with the same path prefix. An exact name and a wildcard that
 * covers it do not clash: the router sends the name to the exact one.
 */
export function findListenClash(a: ListenerUse, b: ListenerUse): ListenClash | null {
  if (!listenersOverlap(a.address, b.address)) return null;
  if (!isRoutedByHost(a) || !isRoutedByHost(b) || !isSameListener(a.address, b.address)) return { kind: 'address' };
  const prefix = normalPathPrefix(a.pathPrefix);
  if (prefix !== normalPathPrefix(b.pathPrefix)) return null;
  const theirs = new Set(b.hosts.map((h) => h.toLowerCase()));
  const host = a.hosts.map((h) => h.toLowerCase()).find((h) => theirs.has(h));
  return host === undefined ? null : { kind: 'route', host, pathPrefix: prefix };
}

/** Whether the use names hosts, so that it may share its listener with others that do. */
export function isRoutedByHost(u: ListenerUse): u is ListenerUse & { hosts: readonly string[] } {
  return u.hosts !== undefined && u.hosts.length > 0;
}

/** `/api/` is `/api`; absent is `/`. */
export function normalPathPrefix(prefix: string | undefined): string {
  if (prefix === undefined) return '/';
  const trimmed = prefix.replace(/\/+$/, '');
  return trimmed === '' ? '/' : trimmed;
}
