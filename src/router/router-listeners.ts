// The router's listeners: one per address, carrying one environment's routes or
// several split by host and path prefix. The router (router.ts) hands over what each
// table wants (a ListenerPlan); this decides who gets each address (listen-claims.ts),
// closes the listeners no one wants any more, gives the rest their routes,
// certificates, PROXY protocol settings and ACME challenges, and opens the new ones.
// A listener that cannot open is that environment's reported error and is tried
// again by the router's retry timer; every other one serves.

import { listenPort } from './route-table.ts';
import { AddressListener, type ListenerStatus } from './address-listener.ts';
import { HostRoutes, type ListenerMember } from './host-routes.ts';
import { claimListenAddresses, type ListenerWant, type ListenClaims } from './listen-claims.ts';
import type { HealthLog } from './passive-health.ts';
import type { EnvProxy } from './proxy-settings.ts';
import type { ProxyProtocolSettings } from './proxy-protocol-listener.ts';
import type { RouterStats } from './router-stats.ts';
import { CertificateSet, type CertificateCache } from './tls/certificate-set.ts';
import type { TlsRoutes } from './tls/tls-routes.ts';

/** What one table asks of the listeners, keyed by environment, `<env>:http` and `<env>:preview`. */
export interface ListenerPlan {
  /** The listeners the table wants, in table order. */
  wants: ListenerWant[];
  /** How each want is routed on its listener (its hosts and path prefix). */
  members: Map<string, ListenerMember>;
  /** Key → its TLS routes: an environment's certificates (its listener speaks TLS), or its plain-HTTP side's challenges. */
  tlsOf: Map<string, TlsRoutes>;
  /** Key → the proxy settings of a front-door listener (`listen`, `tls.http_listen`), whose PROXY protocol it reads; not previews. */
  frontDoorProxy: Map<string, EnvProxy>;
}

const EMPTY_PLAN: ListenerPlan = { wants: [], members: new Map(), tlsOf: new Map(), frontDoorProxy: new Map() };

/** When the router stops, how long idle kept-alive connections may still send a request (answered with Connection: close). */
const IDLE_CLOSE_DELAY_MS = 1_000;

export class RouterListeners {
  private plan: ListenerPlan = EMPTY_PLAN;
  /** Listener id (listen-claims.ts) → its listener. */
  private readonly listeners = new Map<string, AddressListener>();
  /** Listener id → the keys it serves, as last granted. */
  private served = new Map<string, string[]>();
  /** Key → why it has no listener: another of the table has its address, or its host there. */
  private refused = new Map<string, ListenerStatus>();
  /** Secure contexts by certificate and key, kept while a table names them. */
  private readonly certCache: CertificateCache = new Map();

  constructor(private readonly o: { stats: RouterStats; log: HealthLog | undefined; closeGraceMs: number }) {}

  /** Serves `plan` from now on: its listeners are arranged (open, or with their error) on return. */
  async apply(plan: ListenerPlan): Promise<void> {
    this.plan = plan;
    await this.arrange();
    this.pruneCertCache();
  }

  /**
   * Gives each listener the plan wants to whom it belongs (listen-claims.ts), then
   * closes the listeners no one has any more (their ports are free on return),
   * swaps the routes of those that stay, and opens the new ones and those that
   * failed before. Run for each table and by the router's retry timer.
   */
  async arrange(): Promise<void> {
    const serving = new Map<string, string>();
    for (const [id, keys] of this.served) {
      if (this.listeners.get(id)?.listening) for (const key of keys) serving.set(key, id);
    }
    const claims = claimListenAddresses(this.plan.wants, serving);
    for (const [id, l] of this.listeners) {
      if (claims.granted.has(id)) continue;
      this.listeners.delete(id);
      // close() frees the port synchronously; the wait for requests in flight runs on.
      void l.close(this.o.closeGraceMs);
    }
    this.refused = refusedStatus(claims, this.plan.wants);
    this.served = new Map();
    const opening: Promise<void>[] = [];
    for (const [id, { listen, keys }] of claims.granted) {
      const routes = new HostRoutes(keys.map((key) => this.plan.members.get(key)!));
      const certificates = this.certificatesFor(keys);
      let l = this.listeners.get(id);
      if (l !== undefined && l.isTls !== (certificates !== null)) {
        // HTTP became HTTPS or back: a new server on the same address (the port is free once close() returns).
        void l.close(this.o.closeGraceMs);
        l = undefined;
      }
      if (l === undefined) {
        l = new AddressListener({ listen, routes, counters: this.o.stats.listener(listen), certificates, log: this.o.log });
        this.listeners.set(id, l);
      } else {
        l.routes = routes;
        l.certificates = certificates;
      }
      l.proxyProtocol = this.proxyProtocolFor(keys);
      l.challenges = this.challengesFor(keys);
      this.served.set(id, keys);
      if (!l.listening) opening.push(l.open());
    }
    await Promise.all(opening);
  }

  /**
   * The https port redirect_http names: the one `listen` gives, or for port 0 the
   * one its listener bound, read at each request (the listener may open after the
   * plain one, or move when it reopens).
   */
  httpsPortOf(env: string, listen: string): () => number | null {
    const port = listenPort(listen);
    if (port !== 0) return () => port;
    return () => {
      for (const [id, keys] of this.served) if (keys.includes(env)) return this.listeners.get(id)?.boundPort ?? null;
      return null;
    };
  }

  /** Per environment (and `<env>:preview`): its listener's state, with the address it asked for. */
  status(): Record<string, ListenerStatus> {
    const out: Record<string, ListenerStatus> = {};
    const asked = new Map(this.plan.wants.map((w) => [w.key, w.listen]));
    for (const [id, keys] of this.served) {
      const status = this.listeners.get(id)?.status();
      if (status !== undefined) for (const key of keys) out[key] = { ...status, listen: asked.get(key) ?? status.listen };
    }
    for (const [key, s] of this.refused) out[key] = { ...s };
    return out;
  }

  /** Stops accepting everywhere and lets requests in flight finish (≤ graceMs). */
  async close(graceMs: number): Promise<void> {
    const all = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all(all.map((l) => l.close(graceMs, { idleCloseDelayMs: IDLE_CLOSE_DELAY_MS })));
  }

  /**
   * The certificates of a listener's environments, in table order (the first is the
   * default); null when none of them has tls: (a plain-HTTP listener). An
   * environment without tls: on a TLS listener is served over TLS too.
   */
  private certificatesFor(keys: readonly string[]): CertificateSet | null {
    const { tlsOf } = this.plan;
    const tlsKeys = keys.filter((k) => !isHttpKey(k) && tlsOf.has(k));
    if (tlsKeys.length === 0) return null;
    return new CertificateSet(tlsKeys.flatMap((k) => tlsOf.get(k)!.certificates), this.certCache, tlsKeys.flatMap((k) => Object.entries(tlsOf.get(k)!.alpnChallenges ?? {})));
  }

  /**
   * Whether a listener reads PROXY protocol headers: if any of its front-door
   * environments asks for it, the versions any of them reads, from the peers any of
   * them trusts (the header comes before the request names its host). A preview
   * listener never does: it is reached directly, to check a colour.
   */
  private proxyProtocolFor(keys: readonly string[]): ProxyProtocolSettings | null {
    const asking = keys.map((k) => this.plan.frontDoorProxy.get(k)).filter((p): p is EnvProxy => p !== undefined && p.proxyProtocol !== null);
    if (asking.length === 0) return null;
    const modes = new Set(asking.map((p) => p.proxyProtocol));
    const mode = modes.size === 1 ? asking[0]!.proxyProtocol! : 'any';
    if (asking.length === 1) return { mode, isTrusted: asking[0]!.isTrusted };
    return { mode, isTrusted: (peer) => asking.some((p) => p.isTrusted(peer)) };
  }

  private challengesFor(keys: readonly string[]): Map<string, string> {
    const out = new Map<string, string>();
    for (const k of keys) if (isHttpKey(k)) for (const [token, auth] of Object.entries(this.plan.tlsOf.get(k)?.challenges ?? {})) out.set(token, auth);
    return out;
  }

  private pruneCertCache(): void {
    const used = new Set([...this.plan.tlsOf.values()].flatMap((t) => t.certificates.map((c) => `${c.cert}\0${c.key}`)));
    for (const k of this.certCache.keys()) if (!used.has(k)) this.certCache.delete(k);
  }
}

/** The plain-HTTP listener of a TLS environment (tls.httpListen). */
export function httpKey(env: string): string {
  return `${env}:http`;
}

function isHttpKey(key: string): boolean {
  return key.endsWith(':http');
}

/** The preview listener of an environment is keyed apart from its main one. */
export function previewKey(env: string): string {
  return `${env}:preview`;
}

function describeKey(key: string): string {
  if (isHttpKey(key)) return `the plain-HTTP listener (tls.http_listen) of environment "${key.slice(0, -':http'.length)}"`;
  return key.endsWith(':preview') ? `the preview listener of environment "${key.slice(0, -':preview'.length)}"` : `environment "${key}"`;
}

/** What each refused listener reports: who has its address, or its host and path there. */
function refusedStatus(claims: ListenClaims, wants: readonly ListenerWant[]): Map<string, ListenerStatus> {
  const out = new Map<string, ListenerStatus>();
  for (const [key, { listen, heldBy, clash }] of claims.refused) {
    const error = clash.kind === 'route'
      ? `cannot route host ${clash.host} with path prefix ${clash.pathPrefix} on ${listen}: ${describeKey(heldBy)} has it there; give ${describeKey(key)} other hosts or another path_prefix`
      : `cannot listen on ${listen}: ${describeKey(heldBy)} listens there; give ${describeKey(key)} an address of its own${sharingHint(key, heldBy, wants)}`;
    out.set(key, { listen, listening: false, error });
  }
  return out;
}

/** Two environments on one address could share it by host; say so unless one is a preview listener. */
function sharingHint(key: string, heldBy: string, wants: readonly ListenerWant[]): string {
  if (key.endsWith(':preview') || heldBy.endsWith(':preview')) return '';
  const without = [key, heldBy].filter((k) => !wants.find((w) => w.key === k)?.hosts);
  return without.length === 0 ? '' : `, or name hosts: in both to share it (${without.map((k) => `"${k}"`).join(' and ')} names none)`;
}
