// Every backend the router knows: those in the current table, and those removed
// from it that still have requests in flight. Applying a table reuses the pool of a
// backend that stayed, so keep-alive connections survive weight changes.

import type { RouteTable } from './route-table.ts';
import type { BackendStatsJson, RouterStats } from './router-stats.ts';
import { Upstream, type UpstreamPoolOptions } from './upstream.ts';

export class UpstreamRegistry {
  /** id → the backend of that id in the current table. */
  private readonly live = new Map<string, Upstream>();
  /** Removed from the table, still finishing requests. */
  private readonly draining = new Set<Upstream>();

  constructor(
    private readonly stats: RouterStats,
    private readonly options: UpstreamPoolOptions,
  ) {}

  /** Makes the live set match the table; returns env → release → its backends, in table order. */
  reconcile(table: RouteTable): Map<string, Map<string, Upstream[]>> {
    const next = new Map<string, Upstream>();
    const byEnv = new Map<string, Map<string, Upstream[]>>();
    for (const [env, routes] of Object.entries(table.environments)) {
      const byRelease = new Map<string, Upstream[]>();
      byEnv.set(env, byRelease);
      for (const b of routes.backends) {
        const spec = { env, id: b.id, release: b.release, url: b.url };
        const current = this.live.get(b.id);
        const u = current?.matches(spec) ? current : this.create(spec);
        next.set(b.id, u);
        const list = byRelease.get(b.release) ?? [];
        list.push(u);
        byRelease.set(b.release, list);
      }
    }
    for (const [id, u] of this.live) {
      if (next.get(id) === u) continue;
      this.draining.add(u);
      u.retire();
    }
    this.live.clear();
    for (const [id, u] of next) this.live.set(id, u);
    this.noteRouted(byEnv);
    return byEnv;
  }

  /** Tells each environment's counters which releases are routed or still draining. */
  private noteRouted(byEnv: Map<string, Map<string, Upstream[]>>): void {
    const routed = new Map<string, Set<string>>();
    for (const [env, byRelease] of byEnv) routed.set(env, new Set(byRelease.keys()));
    for (const u of this.draining) {
      const set = routed.get(u.env) ?? new Set<string>();
      set.add(u.release);
      routed.set(u.env, set);
    }
    this.stats.noteRouted(routed, Date.now());
  }

  private create(spec: { env: string; id: string; release: string; url: string }): Upstream {
    const counters = this.stats.env(spec.env).release(spec.release);
    return new Upstream(spec, counters, this.options, (u) => this.draining.delete(u));
  }

  /** The backends in the current table. */
  liveBackends(): Iterable<Upstream> {
    return this.live.values();
  }

  /** The backends of one environment in the current table. */
  *liveIn(env: string): Iterable<Upstream> {
    for (const u of this.live.values()) if (u.env === env) yield u;
  }

  /** Requests in flight to backends of this id, and their upgraded connections, in the table or draining. */
  inflight(id: string): { requests: number; upgraded: number } {
    const live = this.live.get(id);
    let requests = live?.inflight ?? 0;
    let upgraded = live?.upgraded.size ?? 0;
    for (const u of this.draining) {
      if (u.id !== id) continue;
      requests += u.inflight;
      upgraded += u.upgraded.size;
    }
    return { requests, upgraded };
  }

  /** Gives the draining backends of this id `timeoutMs` before their upgraded connections are closed. */
  drainWithin(id: string, timeoutMs: number): void {
    for (const u of this.draining) if (u.id === id) u.drainWithin(timeoutMs);
  }

  /** Resolves when no backend has an upgraded connection open, or after `timeoutMs`. */
  async waitUpgradedClosed(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const anyOpen = (): boolean => [...this.live.values(), ...this.draining].some((u) => u.upgraded.size > 0);
    while (anyOpen() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  }

  toJSON(): Record<string, BackendStatsJson> {
    const out: Record<string, BackendStatsJson> = {};
    const add = (u: Upstream): void => {
      const prev = out[u.id];
      // The live backend comes last, so its health is the one shown.
      out[u.id] = {
        inflight: (prev?.inflight ?? 0) + u.inflight,
        upgraded: (prev?.upgraded ?? 0) + u.upgraded.size,
        requests: (prev?.requests ?? 0) + u.requests,
        health: u.health.state,
      };
    };
    for (const u of this.draining) add(u);
    for (const u of this.live.values()) add(u);
    return out;
  }

  async destroyAll(): Promise<void> {
    const all = [...this.live.values(), ...this.draining];
    this.live.clear();
    this.draining.clear();
    await Promise.all(all.map((u) => u.destroy()));
  }
}
