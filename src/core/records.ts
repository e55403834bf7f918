// The records slipway keeps, as the engine and the API see them.

import type { ServiceConfig } from './service-config.ts';

export interface ArtefactRecord {
  digest: string;
  service: string;
  bytes: number;
  path: string;
  createdAt: number;
}

/** What a release runs with: the service-wide parts of slipway.yaml plus its own environment. */
export type ReleaseConfig = Omit<ServiceConfig, 'environments'> & { environment: ServiceConfig['environments'][string] };

export interface ReleaseRecord {
  id: number;
  env: string;
  number: number;
  service: string;
  artefactDigest: string;
  config: ReleaseConfig;
  configHash: string;
  dir: string;
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
