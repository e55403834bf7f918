// Which listen addresses cannot be used side by side on one machine, and who
// already holds the ones a new release asks for (or the host and path it wants on
// a shared one). Pure: the store reads and the bind probe are in listen-guard.ts.

import { envNameOf } from '../core/env-key.ts';
import { routerCarriesTraffic } from '../core/traffic-path.ts';
import { findListenClash, listenersOverlap, type ListenClash, type ListenerUse } from '../core/listen-overlap.ts';
import type { ReleaseRecord } from '../core/records.ts';
import { formatListen, type EnvironmentSpec } from '../core/service-config.ts';

/** One address a release makes the router listen on, under the slipway.yaml key that asks for it, with the hosts and path it is routed by there. */
export interface ListenWant extends ListenerUse {
  key: string;
}

/**
 * Who holds an address: an environment's release, the slipway server itself (its
 * API, the router's admin API), or another key of the same new release.
 */
export type ListenHolder =
  | { kind: 'environment'; env: string; release: number; key: string }
  | { kind: 'server'; name: string }
  | { kind: 'same-release'; key: string };

/** An address held, with the hosts and path prefix it is routed by when it is a shared listener. */
export interface ListenClaim extends ListenerUse {
  holder: ListenHolder;
}

export interface ListenOverlap {
  want: ListenWant;
  /** The address held; with a wildcard host it differs from the one wanted. */
  held: ListenClaim;
  /** An address that cannot be shared, or a host and path both would route on one shared listener. */
  clash: ListenClash;
}

/**
 * The addresses the router listens on for a release: its `listen` (with the hosts
 * and path prefix it is routed by), the preview listener of a blue-green
 * rollout, which is never shared, and TLS's plain-HTTP listener (tls.http_listen). None when a Gateway routes a cluster's traffic.
 */
export function listenWantsOf(env: string, environment: EnvironmentSpec): ListenWant[] {
  if (!routerCarriesTraffic(environment)) return [];
  const wants: ListenWant[] = [{
    key: `environments.${envNameOf(env)}.listen`,
    address: environment.listen,
    ...(environment.hosts ? { hosts: environment.hosts } : {}),
    ...(environment.pathPrefix ? { pathPrefix: environment.pathPrefix.path } : {}),
  }];
  const s = environment.strategy;
  if (s.type === 'blue-green' && s.previewListen) wants.push({ key: `environments.${envNameOf(env)}.strategy.preview_listen`, address: s.previewListen });
  // TLS's plain-HTTP side: the same hosts and prefix, so it may share port 80 as `listen` shares 443.
  if (environment.tls?.httpListen) {
    wants.push({
      key: `environments.${envNameOf(env)}.tls.http_listen`,
      address: environment.tls.httpListen,
      ...(environment.hosts ? { hosts: environment.hosts } : {}),
      ...(environment.pathPrefix ? { pathPrefix: environment.pathPrefix.path } : {}),
    });
  }
  return wants;
}

/** The claims an environment's release makes, for checking another environment's release against them. */
export function releaseClaims(release: ReleaseRecord): ListenClaim[] {
  return listenWantsOf(release.env, release.config.environment).map(({ key, ...use }) => ({
    ...use,
    holder: { kind: 'environment', env: release.env, release: release.number, key },
  }));
}

// listen-guard.ts asks this too; the rule itself is core's, shared with config and the router.
export { listenersOverlap };

/**
 * The first address wanted that clashes with another one wanted (a preview on the
 * release's own listen) or one held. Wants are checked in order, so `listen` is
 * reported before `preview_listen`.
 */
export function findListenOverlap(wants: ListenWant[], held: ListenClaim[]): ListenOverlap | null {
  for (const [i, want] of wants.entries()) {
    for (const earlier of wants.slice(0, i)) {
      const clash = findListenClash(want, earlier);
      if (clash) return { want, held: { ...earlier, holder: { kind: 'same-release', key: earlier.key } }, clash };
    }
    for (const claim of held) {
      const clash = findListenClash(want, claim);
      if (clash) return { want, held: claim, clash };
    }
  }
  return null;
}

/** The slipway.yaml key to change for a clash: `hosts` for a host both claim, else the address's own key. */
export function overlapKey(o: ListenOverlap): string {
  return o.clash.kind === 'route' ? o.want.key.replace(/\.listen$/, '.hosts') : o.want.key;
}

/**
 * What overlaps what, for messages: `environments.staging.listen 127.0.0.1:8080 is
 * already used by environment "production" (listen 127.0.0.1:8080 of production#2)`,
 * or on a shared listener `environments.blog.hosts: host shop.example.com with path
 * prefix / on 127.0.0.1:8080 is already claimed by environment "shop" (hosts of shop#3)`.
 */
export function describeOverlap(o: ListenOverlap): string {
  const at = formatListen(o.held.address);
  const h = o.held.holder;
  if (o.clash.kind === 'route') {
    const wanted = `${overlapKey(o)}: host ${o.clash.host} with path prefix ${o.clash.pathPrefix} on ${formatListen(o.want.address)}`;
    // Only environments name hosts, so only one can hold a host.
    return `${wanted} is already claimed by ${h.kind === 'environment' ? `environment "${h.env}" (hosts of ${h.env}#${h.release})` : h.kind === 'server' ? h.name : h.key}`;
  }
  const wanted = `${o.want.key} ${formatListen(o.want.address)}`;
  switch (h.kind) {
    case 'environment':
      return `${wanted} is already used by environment "${h.env}" (${h.key.slice(`environments.${envNameOf(h.env)}.`.length)} ${at} of ${h.env}#${h.release})`;
    case 'server':
      return `${wanted} is ${h.name} (${at})`;
    case 'same-release':
      return `${wanted} overlaps ${h.key} (${at}) of the same release`;
  }
}
