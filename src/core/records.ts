// The records slipway keeps, as the engine and the API see them.

import type { EnvironmentSpec, RuntimeName, ServiceConfig } from './service-config.ts';

export interface ArtefactRecord {
  digest: string;
  service: string;
  bytes: number;
  path: string;
  createdAt: number;
}

/**
 * A secret as a release pins it: enough to fetch exactly the value the release was
 * made with (or, for file and env, to notice that it changed), never the value.
 */
export type PinnedSecret =
  | { provider: 'store'; version: number }
  | { provider: 'vault'; mount: string; path: string; key: string; version: number }
  | { provider: 'file'; path: string; fingerprint: string }
  | { provider: 'env'; name: string; fingerprint: string };

/**
 * What a release runs with: the service-wide parts of slipway.yaml, its own
 * environment as slipway.yaml had it, and the environment's config version (values
 * set with `slipway config set`, and every secret, pinned) at the time.
 */
export type ReleaseConfig = Omit<ServiceConfig, 'environments'> & {
  environment: EnvironmentSpec;
  /** The environment's config version the release was made with; null: none had been made. */
  configVersion: number | null;
  /** Values set with `slipway config set`; for the same key they win over environment.config. */
  overrides: Record<string, string>;
  /** Every secret its instances get, by variable name. */
  secrets: Record<string, PinnedSecret>;
};

/** The plain variables an instance of a release gets: slipway.yaml's, then the CLI-set ones over them. */
export function effectiveConfig(c: ReleaseConfig): Record<string, string> {
  return { ...c.environment.config, ...c.overrides };
}

/**
 * One version of an environment's config as changed through the CLI or API. Each
 * change makes the next version; the newest is what the next release gets.
 */
export interface ConfigVersionRecord {
  env: string;
  number: number;
  /** Plain values set with `slipway config set`. */
  values: Record<string, string>;
  /** Secrets of slipway's own store: name → the secret's version. */
  secrets: Record<string, number>;
  /** What this version changed, e.g. "set GREETING" or "secret set DB_PASSWORD". */
  change: string;
  createdAt: number;
  createdBy: string;
}

/** One stored value of a secret, without the value. */
export interface SecretVersionRecord {
  env: string;
  name: string;
  version: number;
  /** A keyed hash of the value: equal values have equal fingerprints; the value cannot be found from it. */
  fingerprint: string;
  /** Which master key encrypted it. */
  keyId: string;
  createdAt: number;
  createdBy: string;
}

export interface ReleaseRecord {
  id: number;
  env: string;
  number: number;
  service: string;
  artefactDigest: string;
  config: ReleaseConfig;
  configHash: string;
  dir: string;
  /** The container image its instances run (an image id), for container runtimes; null otherwise. */
  imageId: string | null;
  createdAt: number;
  createdBy: string;
}

export const INSTANCE_STATES = ['starting', 'ready', 'draining', 'stopping', 'stopped', 'failed'] as const;
export type InstanceState = (typeof INSTANCE_STATES)[number];

export function isLive(state: InstanceState): boolean {
  return state === 'starting' || state === 'ready' || state === 'draining' || state === 'stopping';
}

export interface InstanceRecord {
  id: string;
  env: string;
  releaseId: number;
  /** What runs it (its release's environment's runtime when it started). */
  runtime: RuntimeName;
  /** The runtime's own id of it (a container id); null for a process, or before it started. */
  runtimeRef: string | null;
  port: number;
  pid: number | null;
  /** The process start time as the OS reports it: tells our process from a later one with a reused pid. */
  procStart: string | null;
  state: InstanceState;
  logPath: string;
  lastError: string | null;
  createdAt: number;
  readyAt: number | null;
  stoppedAt: number | null;
}

export interface RolloutEventRecord {
  id: number;
  rolloutId: number;
  ts: number;
  level: 'info' | 'warn' | 'error';
  message: string;
  data: Record<string, unknown> | null;
}

/** One release's traffic over a sampling interval (requests and errors are counts in the interval). */
export interface MetricSample {
  env: string;
  release: number;
  ts: number;
  requests: number;
  errors: number;
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
  cpuPercent: number | null;
  rssMb: number | null;
}
