// Which listen addresses cannot be bound side by side on one machine, and who
// already holds the ones a new release asks for. Pure: the store reads and the
// bind probe are in listen-guard.ts.

import type { ReleaseRecord } from '../core/records.ts';
import { formatListen, type EnvironmentSpec, type ListenAddress } from '../core/service-config.ts';

/** One address a release makes the router listen on, under the slipway.yaml key that asks for it. */
export interface ListenWant {
  key: string;
  address: ListenAddress;
}

/**
 * Who holds an address: an environment's release, the slipway server itself (its
 * API, the router's admin API), or another key of the same new release.
 */
export type ListenHolder =
  | { kind: 'environment'; env: string; release: number; key: string }
  | { kind: 'server'; name: string }
  | { kind: 'same-release'; key: string };

export interface ListenClaim {
  address: ListenAddress;
  holder: ListenHolder;
}

export interface ListenOverlap {
  want: ListenWant;
  /** The address held; with a wildcard host it differs from the one wanted. */
  held: ListenClaim;
}

/**
 * The addresses the router listens on for a release: its `listen`, and the preview
 * listener of a blue-green rollout. None when a Gateway routes a cluster's traffic.
 */
export function listenWantsOf(env: string, environment: EnvironmentSpec): ListenWant[] {
  if (environment.runtime === 'kubernetes' && environment.kubernetes?.traffic === 'gateway') return [];
  const wants: ListenWant[] = [{ key: `environments.${env}.listen`, address: environment.listen }];
  const s = environment.strategy;
  if (s.type === 'blue-green' && s.previewListen) wants.push({ key: `environments.${env}.strategy.preview_listen`, address: s.previewListen });
  return wants;
}

/** The claims an environment's release makes, for checking another environment's release against them. */
export function releaseClaims(release: ReleaseRecord): ListenClaim[] {
  return listenWantsOf(release.env, release.config.environment).map((w) => ({
    address: w.address,
    holder: { kind: 'environment', env: release.env, release: release.number, key: w.key },
  }));
}

/**
 * Two listeners clash when they share a port and a host, counting `0.0.0.0` and
 * `::` as every host (a wildcard bind takes the port on all addresses, and on
 * Linux it and any specific bind of that port exclude each other) and `localhost`
 * as both loopback addresses.
 */
export function listenersOverlap(a: ListenAddress, b: ListenAddress): boolean {
  if (a.port !== b.port) return false;
  const ha = hostForms(a.host);
  const hb = hostForms(b.host);
  if (ha.has(WILDCARD) || hb.has(WILDCARD)) return true;
  for (const h of ha) if (hb.has(h)) return true;
  return false;
}

/**
 * The first address wanted that overlaps another one wanted (a preview on the
 * release's own listen) or one held. Wants are checked in order, so `listen` is
 * reported before `preview_listen`.
 */
export function findListenOverlap(wants: ListenWant[], held: ListenClaim[]): ListenOverlap | null {
  for (const [i, want] of wants.entries()) {
    for (const earlier of wants.slice(0, i)) {
      if (listenersOverlap(want.address, earlier.address)) {
        return { want, held: { address: earlier.address, holder: { kind: 'same-release', key: earlier.key } } };
      }
    }
    for (const claim of held) if (listenersOverlap(want.address, claim.address)) return { want, held: claim };
  }
  return null;
}

/**
 * What overlaps what, for messages: `environments.staging.listen 127.0.0.1:8080 is
 * already used by environment "production" (listen 127.0.0.1:8080 of production#2)`.
 */
export function describeOverlap(o: ListenOverlap): string {
  const wanted = `${o.want.key} ${formatListen(o.want.address)}`;
  const at = formatListen(o.held.address);
  const h = o.held.holder;
  switch (h.kind) {
    case 'environment':
      return `${wanted} is already used by environment "${h.env}" (${h.key.slice(`environments.${h.env}.`.length)} ${at} of ${h.env}#${h.release})`;
    case 'server':
      return `${wanted} is ${h.name} (${at})`;
    case 'same-release':
      return `${wanted} overlaps ${h.key} (${at}) of the same release`;
  }
}

const WILDCARD = '*';

/** Every spelling of a host that a bind can collide on: lowercased, IPv6 as its eight words, IPv4-mapped as IPv4. */
function hostForms(host: string): Set<string> {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h === 'localhost') return new Set([...hostForms('127.0.0.1'), ...hostForms('::1')]);
  if (h === '0.0.0.0') return new Set([WILDCARD]);
  const words = ipv6Words(h);
  if (words === null) return new Set([h]);
  if (words.every((w) => w === 0)) return new Set([WILDCARD]);
  // ::ffff:a.b.c.d is the IPv4 address a.b.c.d on a dual-stack socket.
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return new Set([[words[6]! >> 8, words[6]! & 255, words[7]! >> 8, words[7]! & 255].join('.')]);
  }
  return new Set([words.map((w) => w.toString(16)).join(':')]);
}

/** The eight 16-bit words of an IPv6 address (`::` and an IPv4 tail allowed), or null when `h` is not one. */
function ipv6Words(h: string): number[] | null {
  if (!h.includes(':')) return null;
  let text = h;
  const v4 = /^(.*:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  if (v4) {
    const b = v4.slice(2).map(Number);
    if (b.some((x) => x > 255)) return null;
    text = `${v4[1]!}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const zeros = 8 - head.length - tail.length;
  if (halves.length === 2 ? zeros < 1 : zeros !== 0) return null;
  const all = [...head, ...Array<string>(halves.length === 2 ? zeros : 0).fill('0'), ...tail];
  return all.every((g) => /^[0-9a-f]{1,4}$/.test(g)) ? all.map((g) => parseInt(g, 16)) : null;
}
