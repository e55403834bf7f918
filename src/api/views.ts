// The shapes of the API's answers, for clients (the CLI, later the dashboard).

import type { ParityRow } from '../core/config-parity.ts';
import type { PlainEntry, SecretEntry } from '../core/config-view.ts';
import type { SecretListing } from '../engine/config-versions.ts';
import type { DeployPlan } from '../engine/deploy-plan.ts';
import type { ReleaseView, RolloutView } from '../engine/status-view.ts';

export type { EnvironmentStatus, InstanceView, ReleaseView, RolloutView } from '../engine/status-view.ts';
export type { RolloutEventRecord } from '../core/records.ts';
export type { AuditEntry as AuditEntryJson, AuditVerification as AuditVerificationJson } from '../security/audit-trail.ts';
export type { TokenView } from './auth-routes.ts';

export interface ConfigVersionJson {
  number: number;
  change: string;
  createdAt: number;
  createdBy: string;
}

export interface ConfigListJson {
  env: string;
  version: ConfigVersionJson | null;
  stable: { number: number; configVersion: number | null } | null;
  /** The newest version has not reached the stable release yet. */
  pending: boolean;
  entries: (PlainEntry | Omit<SecretEntry, 'fingerprint'>)[];
  conflicts: string[];
}

export interface ConfigVersionsJson {
  env: string;
  versions: (ConfigVersionJson & { keys: string[]; secrets: Record<string, number> })[];
}

export interface ConfigChangeJson {
  unchanged: boolean;
  version: ConfigVersionJson | null;
  release: ReleaseView | null;
  rollout: RolloutView | null;
}

export interface ParityJson {
  left: string;
  right: string;
  rows: ParityRow[];
}

export interface SecretListJson {
  env: string;
  secrets: SecretListing[];
}

export type DeployPlanJson = DeployPlan;
