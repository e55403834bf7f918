// Which listen addresses cannot be bound side by side on one machine, and who
// already holds the ones a new release asks for. Pure: the store reads and the
// bind probe are in listen-guard.ts.

import { routerCarriesTraffic } from '../core/traffic-path.ts';
import { listenersOverlap } from '../core/listen-overlap.ts';
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
  if (!routerCarriesTraffic(environment)) return [];
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

// listen-guard.ts asks this too; the rule itself is core's, shared with config and the router.
export { listenersOverlap };

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
