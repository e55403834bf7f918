// The check every release's listen addresses pass before a rollout is recorded:
// not another environment's (its current release, or the one a rollout moves it
// to), not the server's own API or the router's admin API, and, for an address the
// environment does not listen on already, not bound by anything else on this
// machine. An address the router could not take is refused here, with nothing
// changed, rather than found out by the router after the rollout has "succeeded"
// and the environment has gone offline, or taken by an environment from the
// server after its next restart.

import { connect, createServer } from 'node:net';
import { SlipwayError, type ErrorCode } from '../core/errors.ts';
import { formatListen, type EnvironmentSpec, type ListenAddress } from '../core/service-config.ts';
import type { StateStore } from '../store/state-store.ts';
import { isRoutedByHost, isSameListener } from '../core/listen-overlap.ts';
import { describeOverlap, findListenOverlap, listenersOverlap, listenWantsOf, overlapKey, releaseClaims, type ListenClaim, type ListenOverlap, type ListenWant } from './listen-overlap.ts';
import { routingRelease } from './route-sync.ts';

/** An address the slipway server itself listens on, named for messages ("the slipway server's own API address"). */
export interface ServerListener {
  name: string;
  address: ListenAddress;
}

export type ProbeAnswer = { free: true } | { free: false; code: string; message: string };

export interface ListenGuardDeps {
  store: StateStore;
  /** Read at each check: the router's admin address changes when it is restarted. */
  serverListeners: () => ServerListener[];
  /** The router's last word on the environments it cannot listen for (RouteSync.listenerErrors). */
  listenErrors: () => Record<string, string>;
  /** Binds the address for a moment and lets it go (default: a real bind, on this host). */
  probe?: (address: ListenAddress) => Promise<ProbeAnswer>;
}

export interface ListenCheck {
  env: string;
  environment: EnvironmentSpec;
  /** Said first in the message when the addresses are not the deploy's own, e.g. "rollback to staging#1". */
  subject?: string;
  /** What to do instead (default: choose another address in slipway.yaml). */
  remedy?: string;
}

export class ListenGuard {
  private readonly probe: (address: ListenAddress) => Promise<ProbeAnswer>;

  constructor(private readonly deps: ListenGuardDeps) {
    this.probe = deps.probe ?? probeListen;
  }

  /**
   * Against what slipway itself holds (other environments, its own listeners).
   * Synchronous, so that it runs again in the transaction that records the release:
   * of two deploys asking for one address at once, the second is refused.
   */
  assertUnclaimed(c: ListenCheck): void {
    const overlap = findListenOverlap(listenWantsOf(c.env, c.environment), this.claimsBesides(c.env));
    if (!overlap) return;
    const h = overlap.held.holder;
    const route = overlap.clash.kind === 'route' ? { host: overlap.clash.host, pathPrefix: overlap.clash.pathPrefix } : {};
    refuse(overlap.clash.kind === 'route' ? { remedy: 'choose another host or path_prefix in slipway.yaml', ...c } : c, {
      code: 'E_LISTEN_CONFLICT', what: `${describeOverlap(overlap)}${whyNotShared(c.env, overlap)}`,
      details: { key: overlapKey(overlap), address: formatListen(overlap.want.address), ...route, holder: { ...h, address: formatListen(overlap.held.address) } },
    });
  }

  /**
   * assertUnclaimed, then a bind of each address the environment does not listen on
   * now, so that a port another process holds is refused too. Before anything is
   * recorded; the probe's socket is closed before this resolves.
   */
  async assertAvailable(c: ListenCheck): Promise<void> {
    this.assertUnclaimed(c);
    const own = this.currentListens(c.env);
    for (const want of listenWantsOf(c.env, c.environment)) {
      // The router holds it for this environment already, or for one it will share it
      // with: a bind here would fail on our own listener.
      if (own.some((a) => listenersOverlap(want.address, a))) continue;
      if (this.isServedShared(c.env, want)) continue;
      const answer = await this.probe(want.address);
      if (answer.free) continue;
      const at = `${want.key} ${formatListen(want.address)}`;
      const details = { key: want.key, address: formatListen(want.address), holder: { kind: 'process', error: answer.code } };
      if (answer.code === 'EADDRINUSE') {
        refuse(c, { code: 'E_LISTEN_CONFLICT', what: `${at} is held by another process on this machine (${answer.code}); stop that process`, details, link: ', or ' });
      }
      refuse(c, { code: 'E_LISTEN_FAILED', what: `the router could not listen on ${at} (${answer.message})`, details });
    }
  }

  /** The server's own listeners, and every address another environment's current or in-flight releases use. */
  private claimsBesides(env: string): ListenClaim[] {
    const { store } = this.deps;
    const claims: ListenClaim[] = this.deps.serverListeners().map((s) => ({ address: s.address, holder: { kind: 'server', name: s.name } }));
    for (const other of store.listEnvironmentNames()) {
      if (other === env) continue;
      // Both sides of a rollout: an abort goes back to the stable release's address.
      const active = store.activeRollout(other);
      const ids = new Set([store.getStableReleaseId(other), active?.fromReleaseId ?? null, active?.toReleaseId ?? null]);
      for (const id of ids) {
        const release = id === null ? null : store.getRelease(id);
        if (release) claims.push(...releaseClaims(release));
      }
    }
    return claims;
  }

  /**
   * Whether the router listens on this very address now for another environment
   * that shares it by host with this one (assertUnclaimed let it share).
   */
  private isServedShared(env: string, want: ListenWant): boolean {
    if (!isRoutedByHost(want)) return false;
    const errors = this.deps.listenErrors();
    return this.deps.store.listEnvironmentNames().some((other) => {
      if (other === env || errors[other]) return false;
      const release = routingRelease(this.deps.store, other);
      const theirs = release ? steadyWants(other, release.config.environment) : [];
      return theirs.some((t) => isRoutedByHost(t) && isSameListener(want.address, t.address));
    });
  }

  /**
   * Where the router listens for the environment now: its listen and its TLS
   * http_listen (a redeploy binds neither again); none when it reported it cannot.
   */
  private currentListens(env: string): ListenAddress[] {
    if (this.deps.listenErrors()[env]) return [];
    const release = routingRelease(this.deps.store, env);
    return release ? steadyWants(env, release.config.environment).map((w) => w.address) : [];
  }
}

/** An environment's addresses the router keeps between rollouts: all but a preview listener, bound only during one. */
function steadyWants(env: string, environment: Parameters<typeof listenWantsOf>[1]): ListenWant[] {
  return listenWantsOf(env, environment).filter((w) => !w.key.endsWith('.strategy.preview_listen'));
}

/** Why two environments could not share: what to change, said after the clash. */
function whyNotShared(env: string, o: ListenOverlap): string {
  const h = o.held.holder;
  if (o.clash.kind === 'route') return '; environments on one listener need different hosts or path prefixes';
  if (h.kind !== 'environment') return '';
  if (!isSameListener(o.want.address, o.held.address)) return '; each environment needs an address of its own (environments routed by hosts: share one only when each writes the same address)';
  return `; environments share an address only when each names hosts: ("${isRoutedByHost(o.want) ? h.env : env}" does not)`;
}

function refuse(c: ListenCheck, r: { code: ErrorCode; what: string; details: Record<string, unknown>; link?: string }): never {
  const subject = c.subject ? `${c.subject} refused: ` : '';
  const remedy = c.remedy ?? 'choose another address in slipway.yaml';
  throw new SlipwayError(r.code, `${subject}${r.what}${r.link ?? '; '}${remedy}. Nothing was changed`, { env: c.env, ...r.details });
}

/**
 * Binds the address (as the router would, on this host) and closes it at once. A
 * bind refused with EADDRINUSE while nothing accepts connections there means an
 * outbound connection happens to use that local port (the ephemeral range): that
 * clears by itself and the router retries its bind, so it is not a holder.
 */
export function probeListen(address: ListenAddress): Promise<ProbeAnswer> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (e: NodeJS.ErrnoException) => {
      const answer: ProbeAnswer = { free: false, code: e.code ?? 'UNKNOWN', message: e.message };
      if (answer.code !== 'EADDRINUSE') return resolve(answer);
      void isAccepting(address).then((accepting) => resolve(accepting ? answer : { free: true }));
    });
    server.listen({ host: address.host, port: address.port, exclusive: true }, () => server.close(() => resolve({ free: true })));
  });
}

/** Does something accept connections at the address (a wildcard host is asked on loopback)? */
function isAccepting(address: ListenAddress): Promise<boolean> {
  const host = address.host === '0.0.0.0' || address.host === '' ? '127.0.0.1' : address.host === '::' ? '::1' : address.host;
  return new Promise((resolve) => {
    const socket = connect({ host, port: address.port });
    socket.setTimeout(1000);
    const done = (accepting: boolean) => {
      socket.destroy();
      resolve(accepting);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(true)); // no answer either way: assume held, refuse
    socket.once('error', (e: NodeJS.ErrnoException) => done(e.code !== 'ECONNREFUSED'));
  });
}
