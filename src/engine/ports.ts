// What the engine needs from the layers below, as roles. main.ts wires the concrete
// router client and runtime driver in; tests may wire the same real ones.

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

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export interface EngineLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
