// The API's answers, one definition for the server and its clients: the CLI imports
// these types, and the dashboard names them in JSDoc (src/ui/api.js). An answer built
// by a function (the engine's views, a route's *View helper) has its type derived from
// that function; an answer a route builds in place is declared here and the route
// checks it with `satisfies`, so the two cannot drift.
//
// Type-only: nothing here runs. This file imports routes' helpers for their types;
// a route that checks against a type here must not be one of those (no cycles).

import type { ParityRow } from '../core/config-parity.ts';
import type { PlainEntry, SecretEntry } from '../core/config-view.ts';
import type { Rollout } from '../core/rollout.ts';
import type { ConfigVersionRecord, MetricSample, RolloutEventRecord } from '../core/records.ts';
import type { ApprovalRecord } from '../core/pipeline/pipeline-run.ts';
import type { AnalysisResult } from '../core/analysis/index.ts';
import type { SecretListing } from '../engine/config-versions.ts';
import type { DeployPlan } from '../engine/deploy-plan.ts';
import type { PipelineRunner, RunView } from '../engine/pipeline/pipeline-runner.ts';
import type { NotificationFailure, PageInfo } from '../engine/read-models.ts';
import type { EnvironmentStatus, RolloutView } from '../engine/status-view.ts';
import type { LivePoint } from './live-metrics.ts';
import type { LogRecord } from '../observe/log-records.ts';
import type { AuditEntry } from '../security/audit-trail.ts';
import type { policyView } from './policy-routes.ts';
import type { TokenView, whoamiView } from './auth-routes.ts';
import type { ReleaseJson, ReleaseListJson } from './release-answers.ts';

export type { EnvironmentStatus, InstanceView, ReleaseView, RolloutView } from '../engine/status-view.ts';
export type { RolloutEventRecord } from '../core/records.ts';
export type { AuditEntry as AuditEntryJson, AuditVerification as AuditVerificationJson } from '../security/audit-trail.ts';
export type { TokenView } from './auth-routes.ts';
/** A release with `retired`: when release retention removed its tree, artefact and image (null: kept). */
export type { ReleaseJson, Retirement } from './release-answers.ts';
export type { TrafficGateAnswer as TrafficGateJson } from '../engine/traffic-gates.ts';

// --- the server, artefacts

export interface ArtefactUploadJson {
  digest: string;
  bytes: number;
}

/** POST /api/blobs/check: which blobs of a manifest the server lacks (blob-routes.ts). */
export type { BlobCheck as BlobCheckJson } from '../engine/blob-artefacts.ts';

/** POST /api/blobs: one batch received. */
export interface BlobBatchJson {
  received: number;
  bytes: number;
}

/** POST /api/artefacts/assemble: the artefact packed from a manifest's blobs. */
export interface AssembledArtefactJson extends ArtefactUploadJson {
  /** The manifest had been assembled into this artefact before: nothing was packed. */
  reused: boolean;
  manifest: string;
}

/** `slipway down` and `slipway remove` (api/teardown-routes.ts). */
export type { DownAnswer as DownAnswerJson, RemoveAnswer as RemoveAnswerJson } from '../engine/environment-teardown.ts';

export interface ShutdownJson {
  ok: boolean;
}

export type WhoamiJson = ReturnType<typeof whoamiView>;

// auth-routes.ts builds these from its tokenView and the audit trail's entries; it is
// one of the files this one imports, so it cannot check them with `satisfies`.
export interface TokensJson {
  tokens: TokenView[];
}

/** The answer that makes a token: the only one that carries its secret. */
export type CreatedTokenJson = TokenView & { token: string };

export interface AuditEntriesJson {
  entries: AuditEntry[];
}

// --- deploys and rollouts

export interface DeployAnswerJson {
  unchanged: boolean;
  release: ReleaseJson;
  rollout: RolloutView | null;
}

export interface RollbackAnswerJson {
  release: ReleaseJson;
  rollout: RolloutView;
}

/** The answer of pause, resume, promote and abort. */
export interface RolloutCommandJson {
  rollout: RolloutView;
}

export interface EnvironmentsJson {
  environments: EnvironmentStatus[];
}

/** Every release of an environment, newest first; a retired one (`retired` not null) is listed but no rollback goes to it. */
export type ReleasesJson = ReleaseListJson;

export interface RolloutAnalysisJson {
  rollout: number;
  phase: Rollout['phase'];
  analysis: AnalysisResult | null;
}

export interface RolloutEventsJson {
  rollout: RolloutView;
  events: RolloutEventRecord[];
}

export interface MetricSamplesJson {
  env: string;
  samples: MetricSample[];
}

export interface LiveMetricsJson {
  env: string;
  intervalMs: number;
  now: number;
  points: LivePoint[];
}

// --- logs and events

/** One instance log record, as the API sends it (see observe/log-records.ts). */
export type LogRecordJson = LogRecord;

export interface LogsJson {
  env: string;
  records: LogRecordJson[];
}

export interface NotificationFailuresJson {
  env: string;
  failures: NotificationFailure[];
}

// --- config and secrets

export type ConfigVersionJson = Pick<ConfigVersionRecord, 'number' | 'change' | 'createdAt' | 'createdBy'>;

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
  release: ReleaseJson | null;
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

export type PolicyJson = ReturnType<typeof policyView>;

// --- the release pipeline

/** A pipeline run as the API shows it (with the environment its approval is for, and that approval's policy). */
export type RunJson = RunView['run'];
export type RunViewJson = RunView;

/** A run in a list: with its approvals, as its own answer (RunViewJson) has them. */
export type RunListEntryJson = RunJson & { approvals: ApprovalRecord[] };

/**
 * A page of runs, newest first. `total`: runs in all; `more`: older ones follow this
 * page, asked for with `before=<next>`.
 */
export interface RunsJson extends PageInfo {
  runs: RunListEntryJson[];
}

/** The answer of approve and reject. */
export interface ApprovalAnswerJson {
  approval: ApprovalRecord;
  run: RunJson;
}

export type ChecklistJson = ReturnType<PipelineRunner['checklist']>;
