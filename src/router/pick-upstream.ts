// Which backend a new request (or WebSocket) goes to: by release weight, or, during
// a sticky canary, by the side its user belongs to.

import type { IncomingMessage } from 'node:http';
import type { EnvRoute } from './env-route.ts';
import type { StickyRoutes } from './route-table.ts';
import type { Upstream } from './upstream.ts';

const TRACK_HEADER = 'x-slipway-track';
const TRACK_COOKIE = 'slipway-track';

/** A backend for this request, or null when no weighted release has one. */
export function pickUpstream(route: EnvRoute, req: IncomingMessage): Upstream | null {
  return route.sticky === null ? route.picker.pick() : pickSticky(route, route.sticky, req);
}

/** The value of one cookie in a Cookie header, without parsing the rest. */
function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** FNV-1a of a string into [0, 100): a user's stable place on the canary's scale. */
export function stickyBucket(value: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < value.length; i++) {
    h ^= value.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return ((h >>> 0) % 10_000) / 100;
}

/**
 * The backend a canary rollout owes this request: the side it asked for, else the
 * side its user's hash falls on (below the canary's share: canary), else by weight.
 */
function pickSticky(route: EnvRoute, sticky: StickyRoutes, req: IncomingMessage): Upstream | null {
  const cookies = req.headers.cookie;
  const track = req.headers[TRACK_HEADER] ?? cookieValue(cookies, TRACK_COOKIE);
  if (track === 'canary' || track === 'stable') {
    const forced = route.picker.pickRelease(track === 'canary' ? sticky.canary : sticky.stable);
    if (forced !== null) return forced;
  }
  const header = sticky.header ? req.headers[sticky.header] : undefined;
  const key = typeof header === 'string' ? header : sticky.cookie ? cookieValue(cookies, sticky.cookie) : undefined;
  if (key !== undefined && key !== '') {
    const side = stickyBucket(key) < route.picker.shareOf(sticky.canary) ? sticky.canary : sticky.stable;
    const chosen = route.picker.pickRelease(side);
    if (chosen !== null) return chosen;
  }
  return route.picker.pick();
}
