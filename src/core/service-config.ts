// The validated, normalised shape of slipway.yaml that the rest of slipway trusts.
// config/ parses YAML into this (durations in ms, defaults filled in); nothing
// downstream re-validates it.

import type { CountOrPercent } from './duration.ts';

export interface HealthSpec {
  path: string;
  intervalMs: number;
  timeoutMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
  /** How long a new instance may take to become healthy before the deploy fails. */
  startDeadlineMs: number;
}

export interface ShutdownSpec {
  /** How long to wait for in-flight requests after an instance leaves the router. */
  drainTimeoutMs: number;
  /** How long after SIGTERM before SIGKILL. */
  killTimeoutMs: number;
}

export interface RollingStrategy {
  type: 'rolling';
  /** New instances started per batch. */
  batch: CountOrPercent;
  /** How many of `instances` may be not-ready at once during the rollout. */
  maxUnavailable: CountOrPercent;
}

export type Strategy = RollingStrategy;

export interface ListenAddress {
  host: string;
  port: number;
}

export interface EnvironmentSpec {
  name: string;
  instances: number;
  listen: ListenAddress;
  strategy: Strategy;
  /** Plain environment variables given to every instance. */
  config: Record<string, string>;
}

export interface RunSpec {
  /** argv, split from the YAML string without a shell (quotes respected). */
  argv: string[];
  /** The original command text, for display. */
  command: string;
  portEnv: string;
}

export interface ServiceConfig {
  service: string;
  run: RunSpec;
  health: HealthSpec;
  shutdown: ShutdownSpec;
  environments: Record<string, EnvironmentSpec>;
}

export function formatListen(a: ListenAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
