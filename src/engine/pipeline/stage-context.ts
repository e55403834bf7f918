// What a stage of a pipeline run is given, and what it answers. Stages are
// functions of this context; the runner records their outcome.

import type { Readable } from 'node:stream';
import type { CiOrigin } from '../../core/pipeline/ci-origin.ts';
import type { PipelineRun, StageName } from '../../core/pipeline/pipeline-run.ts';
import type { ArtefactRecord, ReleaseRecord } from '../../core/records.ts';
import type { Rollout } from '../../core/rollout.ts';
import type { PipelineSpec, ServiceConfig } from '../../core/service-config.ts';
import type { StateStore } from '../../store/state-store.ts';
import type { ReplayRecord } from '../../core/shadow/replay-spec.ts';
import type { ArtefactTrust } from '../artefact-trust.ts';
import type { CommandUser } from './pipeline-user.ts';

/** What the replay stage needs of the server beyond the store (engine.ts gives it; replay-stage.ts uses it). */
export interface ReplaySource {
  /** The newest `limit` requests the router recorded for env (a service/environment key), oldest first. */
  sample(env: string, limit: number): Promise<ReplayRecord[]>;
  /** Where the release's ready instances answer; null when the server cannot reach them (a cluster's Gateway routes it). */
  backends(env: string, release: ReleaseRecord): string[] | null;
  /** Every secret value the releases' instances get: masked in what the stage records, and in what it sends. */
  secrets(releases: ReleaseRecord[]): Promise<string[]>;
}

/** The parts of the engine a run uses (the Engine itself, seen through this role). */
export interface PipelineHost {
  readonly store: StateStore;
  readonly trust: ArtefactTrust;
  readonly sampler: { snapshot(env: string, release: number): { requests: number } | null };
  /** Stores an artefact under its digest, checked as it is written (no upload manifest: the build signs its own). */
  storeArtefact(body: Readable, digest: string, service: string): Promise<ArtefactRecord>;
  deploy(req: { env: string; artefactDigest: string; config: ServiceConfig; actor: string; force?: boolean }): Promise<{ release: ReleaseRecord; rollout: Rollout | null; unchanged: boolean }>;
  rollback(req: { env: string; to?: number; actor: string }): Promise<{ release: ReleaseRecord; rollout: Rollout }>;
  /** Throws E_POLICY_DENIED when an environment's settings go beyond the admin's policy (as written; each deploy checks again in full). */
  assertWithinPolicy(env: string, config: ServiceConfig): void;
}

export interface StageContext {
  readonly host: PipelineHost;
  readonly run: PipelineRun;
  readonly config: ServiceConfig;
  readonly pipeline: PipelineSpec;
  /** The run's working directory (the checkout lives in src/). */
  readonly runDir: string;
  /** The service's directory inside the repository. */
  readonly subdir: string;
  /** The CI's account when a hosted CI built the artefact: there is no repository, the artefact is the source. */
  readonly ci: CiOrigin | null;
  /** Recorded production requests and the instances to replay them to; null: this server has none (tests of other stages). */
  readonly replay: ReplaySource | null;
  /** The stage's data so far (kept across a restart): a stage resumes from it. */
  readonly data: Record<string, unknown>;
  readonly signal: AbortSignal;
  /** Whom the run's commands run as (pipeline-user.ts): the service's pipeline user on a root server, else null (the server's own). */
  readonly user: CommandUser | null;
  /** Appends to the stage's output tail. */
  output(text: string): void;
  /** Records data now, before acting on it (a rollout id before waiting for the rollout). */
  record(patch: Record<string, unknown>): void;
  /** Another stage's recorded data. */
  stageData(name: StageName): Record<string, unknown> | null;
  setVersion(version: string): void;
  setArtefact(digest: string): void;
  now(): number;
  sleep(ms: number): Promise<void>;
}

export type StageOutcome =
  | { status: 'succeeded' | 'skipped' | 'failed'; reason?: string; data?: Record<string, unknown> }
  /** Held by a gate: the runner asks again after `retryMs` (or when woken by an approval). */
  | { status: 'waiting'; reason: string; retryMs: number; data?: Record<string, unknown> };
