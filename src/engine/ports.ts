// What the engine needs from the layers below, as roles. server.ts wires the
// concrete router client, fleets and clock in; in-process tests wire a manual clock
// and a fleet of their own (test/support/engine-harness.ts).

import type { RouteTable } from '../router/route-table.ts';
import type { RouterStatsJson } from '../router/router-client.ts';

export interface TrafficRouter {
  /** Installs a route table; resolves once the router has persisted and applied it. */
  putRoutes(table: RouteTable): Promise<{ version: number; listeners: Record<string, { listening: boolean; error?: string }> }>;
  /** Waits until no request is in flight to a backend that has left the table. */
  waitDrained(backendId: string, timeoutMs: number): Promise<{ drained: boolean; inflight: number }>;
  /** Cumulative counters per environment and release since the router started. */
  getStats(): Promise<RouterStatsJson>;
  /** The table the router runs now (its version seeds the server's counter). */
  getRoutes(): Promise<RouteTable>;
}

export { systemClock, type Clock, type Timer } from '../core/clock.ts';
export type { Fleet, FleetBackend, ScaleOutcome } from '../runtime/fleet.ts';

export interface EngineLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
