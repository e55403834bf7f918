// Which environment of a listener a request is for. A listener serves one
// environment, or several that split it by host name (slipway.yaml's hosts:) and
// then by path prefix (path_prefix:): the exact name first, then the longest
// wildcard that covers the host, then, among that host's environments, the longest
// prefix the path starts with, whole segments at a time. Built once per table;
// matching a request is a header scan, one or a few map lookups and a short loop.

import type { EnvRoute } from './env-route.ts';
import type { PathPrefixRoutes } from './route-table.ts';

/** One environment (or a preview listener) on a listener, as the table gives it. */
export interface ListenerMember {
  route: EnvRoute;
  /** Lower-case names and `*.` wildcards; null: every host (then it is alone on its listener). */
  hosts: readonly string[] | null;
  pathPrefix: PathPrefixRoutes | null;
}

/** An environment's place under a host. */
export interface RouteEntry {
  readonly route: EnvRoute;
  /** `/` for every path. */
  readonly prefix: string;
  /** The prefix taken off the path before it goes to the instance; null: the path goes as it came. */
  readonly strip: string | null;
}

export const UNKNOWN_HOST = 'host';
export const UNKNOWN_PATH = 'path';
export type RouteMiss = typeof UNKNOWN_HOST | typeof UNKNOWN_PATH;

export class HostRoutes {
  private readonly exact = new Map<string, RouteEntry[]>();
  /** Keyed by the suffix with its dot: `*.example.com` is `.example.com`. */
  private readonly wildcards = new Map<string, RouteEntry[]>();
  private readonly anyHost: RouteEntry[] | null;
  /**
   * The entry every request gets, when the listener is one environment's with no
   * path prefix: nothing to look up (the listener of an environment without hosts:).
   */
  readonly only: RouteEntry | null;
  /** The environment when the listener has just one (its counters take what cannot be routed). */
  readonly sole: EnvRoute | null;

  constructor(members: readonly ListenerMember[]) {
    const any: RouteEntry[] = [];
    for (const m of members) {
      const prefix = m.pathPrefix?.path ?? '/';
      const entry: RouteEntry = { route: m.route, prefix, strip: m.pathPrefix?.strip && prefix !== '/' ? prefix : null };
      if (m.hosts === null) any.push(entry);
      else for (const host of m.hosts) addTo(host.startsWith('*.') ? this.wildcards : this.exact, host.startsWith('*.') ? host.slice(1) : host, entry);
    }
    for (const list of [...this.exact.values(), ...this.wildcards.values(), any]) list.sort((a, b) => b.prefix.length - a.prefix.length);
    this.anyHost = any.length > 0 ? any : null;
    const first = members.length === 1 ? (this.anyHost?.[0] ?? null) : null;
    this.only = first !== null && first.prefix === '/' ? first : null;
    this.sole = members.length === 1 ? members[0]!.route : null;
  }

  /** The entry for a request's normalised host (requestHost) and its URL as it came, or what was not known. */
  match(host: string, url: string): RouteEntry | RouteMiss {
    const list = this.exact.get(host) ?? this.wildcardFor(host) ?? this.anyHost;
    if (list === null) return UNKNOWN_HOST;
    for (const e of list) if (e.prefix === '/' || isUnderPrefix(url, e.prefix)) return e;
    return UNKNOWN_PATH;
  }

  /** The longest wildcard suffix of the host: its leftmost dot gives the longest one. */
  private wildcardFor(host: string): RouteEntry[] | undefined {
    if (this.wildcards.size === 0) return undefined;
    for (let dot = host.indexOf('.', 1); dot > 0; dot = host.indexOf('.', dot + 1)) {
      const list = this.wildcards.get(host.slice(dot));
      if (list !== undefined) return list;
    }
    return undefined;
  }
}

function addTo(map: Map<string, RouteEntry[]>, key: string, entry: RouteEntry): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [entry]);
  else list.push(entry);
}

/** `/api` takes `/api`, `/api/x` and `/api?q`, not `/apis`. */
export function isUnderPrefix(url: string, prefix: string): boolean {
  if (!url.startsWith(prefix)) return false;
  if (url.length === prefix.length) return true;
  const next = url.charCodeAt(prefix.length);
  return next === 47 || next === 63; // '/' or '?'
}

/** The URL the instance gets: the prefix taken off, `/` for the bare prefix (`/api?q` → `/?q`). */
export function stripPathPrefix(url: string, prefix: string): string {
  const rest = url.slice(prefix.length);
  return rest.charCodeAt(0) === 47 ? rest : `/${rest}`;
}

/** The request's Host header (or HTTP/2 :authority) as it came (the first one), or '' without one; no headers object is built for it. */
export function hostHeaderOf(rawHeaders: readonly string[]): string {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 4 && (name === 'Host' || name === 'host' || name.toLowerCase() === 'host')) return rawHeaders[i + 1]!;
    // HTTP/2 (the TLS listener): the authority pseudo-header is the Host.
    if (name === ':authority') return rawHeaders[i + 1]!;
  }
  return '';
}

/** The host as the router matches it: no port, no trailing dot, lower case (`Shop.Example.com.:8080` → `shop.example.com`). */
export function requestHost(header: string): string {
  let end = header.length;
  if (header.charCodeAt(0) === 91) {
    const close = header.indexOf(']'); // an IPv6 literal keeps its brackets; no pattern names one
    if (close > 0) end = close + 1;
  } else {
    const colon = header.indexOf(':');
    if (colon >= 0) end = colon;
  }
  if (end > 0 && header.charCodeAt(end - 1) === 46) end--;
  return (end === header.length ? header : header.slice(0, end)).toLowerCase();
}
