// The pipeline runner: drives each run stage by stage inside the server, records
// every stage (status, times, output tail, actor, evidence) before and after it
// acts, and after a restart carries every unfinished run on from the stage it had
// recorded. Gates (approval, freeze windows) hold a run as `waiting`; an approval
// wakes it at once.

import { envKey } from '../../core/env-key.ts';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SlipwayError, errorMessage } from '../../core/errors.ts';
import { buildChecklist, type ChecklistItem } from '../../core/pipeline/checklist.ts';
import type { CiOrigin } from '../../core/pipeline/ci-origin.ts';
import type { EventInput } from '../../core/events.ts';
import {
  STAGES, approvalRefusal, countedApprovals, isRunFinished, versionFor, type ApprovalRecord, type PipelineRun, type StageName, type StageRecord,
} from '../../core/pipeline/pipeline-run.ts';
import type { ApprovalPolicy, ServiceConfig } from '../../core/service-config.ts';
import type { RunFilter } from '../../store/pipeline-store.ts';
import type { Clock, EngineLogger, HostIdentity } from '../ports.ts';
import { buildStage, packageStage, testStage } from './build-stages.ts';
import { CiKeys } from './ci-keys.ts';
import { CI_HANDLERS, readPackedConfig } from './ci-stages.ts';
import {
  acceptanceStage, approvalStage, productionDeployStage, rollbackDrillStage, stagingDeployStage, stagingHealthStage, watchStage,
} from './deploy-stages.ts';
import { readFileAt, resolveSource, type ResolvedSource } from './git-source.ts';
import { pipelineUser, readyRunDirs, removeRunDir } from './pipeline-user.ts';
import { workDirOf } from './build-stages.ts';
import { replayStage } from './replay-stage.ts';
import type { PipelineHost, ReplaySource, StageContext, StageOutcome } from './stage-context.ts';

const HANDLERS: Record<StageName, (ctx: StageContext) => Promise<StageOutcome>> = {
  build: buildStage,
  test: testStage,
  package: packageStage,
  staging_deploy: stagingDeployStage,
  acceptance: acceptanceStage,
  replay: replayStage,
  staging_health: stagingHealthStage,
  rollback_drill: rollbackDrillStage,
  approval: approvalStage,
  production_deploy: productionDeployStage,
  watch: watchStage,
};

/** Stages that work on the checkout: a re-run after one of them failed starts again at build. */
const BUILD_STAGES: ReadonlySet<StageName> = new Set(['build', 'test', 'package']);

const OUTPUT_TAIL_CHARS = 8000;

class Stopping extends Error {}

export interface RunView {
  /**
   * productionEnv: the environment its approval is for (null: the config has no pipeline).
   * ci: the CI that built and tested the artefact (slipway ci-release); null: the server built it.
   * approval: production's approval policy, the one decide() applies, so that a client can
   * tell before asking whether an approval or rejection would be refused.
   */
  run: Omit<PipelineRun, 'configText'> & { subdir: string; productionEnv: string | null; ci: CiOrigin | null; approval: ApprovalPolicy };
  stages: StageRecord[];
  approvals: ApprovalRecord[];
}

/** What a run keeps of its config: slipway.yaml as parsed at the commit, plus where the service sits. */
interface StoredRunConfig {
  subdir: string;
  config: ServiceConfig;
  /** Set for a run of an artefact a hosted CI built: its build, test and package stages read the CI's account. */
  ci?: CiOrigin;
}

export class PipelineRunner {
  private readonly driving = new Map<number, Promise<void>>();
  private readonly wakers = new Map<number, () => void>();
  private stopped = false;
  private readonly abort = new AbortController();

  constructor(private readonly deps: {
    host: PipelineHost; workDir: string; clock: Clock; log: EngineLogger;
    /** releases/ of the data directory, where each service's pipeline user is recorded (pipeline-user.ts). */
    releasesDir: string;
    /** Who the deployer's commands run as on this host (ports.ts). */
    identity: HostIdentity;
    /** Production's recorded requests and where to replay them (the replay stage is skipped without). */
    replay?: ReplaySource;
    /** Each stage that finished (not one that waits), with how long it ran: for the metrics. */
    onStageFinished?: (o: { stage: string; outcome: string; seconds: number }) => void;
    /** A run of `service` ended (failed or succeeded): its pipeline user may now be given up. */
    onRunFinished?: (service: string) => void;
    /** The event stream (and so the webhooks): sign-off asked for, given, refused. */
    publish?: (e: EventInput) => void;
  }) {}

  /** Carries on every run a previous server left unfinished. */
  start(): void {
    for (const run of this.deps.host.store.pipeline.unfinishedRuns()) {
      this.deps.log.info({ run: run.id, stage: run.stage }, 'resuming pipeline run');
      this.drive(run.id);
    }
  }

  /** Stops driving (a command in flight is killed); every run stays as recorded, to resume at the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    for (const wake of this.wakers.values()) wake();
    await Promise.allSettled([...this.driving.values()]);
  }

  /** Resolves the revision and reads slipway.yaml at it (the caller parses it: config/ is not the engine's to import). */
  async readSource(o: { repo: string; ref: string; subdir: string }): Promise<{ source: ResolvedSource; configText: string; file: string }> {
    // workDir is <data directory>/pipeline (engine.ts).
    const source = await resolveSource({ ...o, dataRoot: dirname(this.deps.workDir) }).catch((e: unknown) => {
      const cause = (e as { cause?: unknown }).cause;
      if (cause instanceof Error) this.deps.log.warn({ repo: o.repo, git: cause.message }, 'pipeline: the repository of a run request could not be read');
      throw e;
    });
    const file = source.subdir ? `${source.subdir}/slipway.yaml` : 'slipway.yaml';
    const configText = await readFileAt(source, file);
    if (configText === null) throw new SlipwayError('E_CONFIG_NOT_FOUND', `commit ${source.commit.slice(0, 12)} has no ${file}; commit one (see slipway init)`, { commit: source.commit });
    return { source, configText, file };
  }

  begin(o: { source: ResolvedSource; config: ServiceConfig; actor: string }): PipelineRun {
    if (!o.config.pipeline) {
      throw new SlipwayError('E_CONFIG_INVALID', `slipway.yaml at ${o.source.commit.slice(0, 12)} describes no pipeline; add at least \`pipeline: {}\` (and build:, test:, acceptance:), see docs/pipeline.md`);
    }
    // Refused before the build: a run whose staging or production settings the admin's
    // policy forbids would fail at its first deploy anyway.
    for (const env of [o.config.pipeline.stagingEnv, o.config.pipeline.productionEnv]) this.deps.host.assertWithinPolicy(envKey(o.config.service, env), o.config);
    const now = this.deps.clock.now();
    const stored: StoredRunConfig = { subdir: o.source.subdir, config: o.config };
    const run = this.deps.host.store.pipeline.insertRun({
      service: o.config.service, repo: o.source.repo, ref: o.source.ref, commit: o.source.commit, version: `0.0.0+${o.source.commit.slice(0, 7)}`,
      status: 'running', stage: 'build', reason: null, startedBy: o.actor, createdAt: now, updatedAt: now, finishedAt: null,
      configText: JSON.stringify(stored), artefactDigest: null, attempt: 1,
    });
    this.deps.log.info({ run: run.id, commit: run.commit, actor: o.actor }, 'pipeline run started');
    this.drive(run.id);
    return run;
  }

  /** The CI signing keys the admin registered (slipway ci-key). */
  get ciKeys(): CiKeys {
    return new CiKeys(this.deps.host.store, () => this.deps.clock.now());
  }

  /** slipway.yaml as packed in an uploaded artefact: the config of a CI's run (the caller parses it). */
  async readArtefactConfig(digest: string): Promise<string> {
    const artefact = this.deps.host.store.getArtefact(digest);
    if (!artefact || !existsSync(artefact.path)) {
      throw new SlipwayError('E_NOT_FOUND', `artefact ${digest} is not on the server; upload it first (slipway ci-release does both)`, { digest });
    }
    const text = await readPackedConfig(artefact.path);
    if (text === null) throw new SlipwayError('E_CONFIG_NOT_FOUND', `artefact ${digest.slice(0, 19)}… has no slipway.yaml at its top; pack the service's directory (the one holding slipway.yaml)`, { digest });
    return text;
  }

  /**
   * A run of an artefact a hosted CI built and uploaded (slipway ci-release): no
   * checkout, no build; its config is the slipway.yaml packed in the artefact.
   */
  beginFromCi(o: { digest: string; config: ServiceConfig; ci: CiOrigin; version: string | null; actor: string }): PipelineRun {
    if (!o.config.pipeline) {
      throw new SlipwayError('E_CONFIG_INVALID', `the slipway.yaml in artefact ${o.digest.slice(0, 19)}… describes no pipeline; add at least \`pipeline: {}\`, see docs/pipeline.md`);
    }
    for (const env of [o.config.pipeline.stagingEnv, o.config.pipeline.productionEnv]) this.deps.host.assertWithinPolicy(envKey(o.config.service, env), o.config);
    const now = this.deps.clock.now();
    const stored: StoredRunConfig = { subdir: '', config: o.config, ci: o.ci };
    const run = this.deps.host.store.pipeline.insertRun({
      service: o.config.service, repo: o.ci.repository ?? '', ref: o.ci.branch ?? o.ci.commit, commit: o.ci.commit,
      version: versionFor(o.version ? [o.version] : [], o.ci.commit),
      status: 'running', stage: 'build', reason: null, startedBy: o.actor, createdAt: now, updatedAt: now, finishedAt: null,
      configText: JSON.stringify(stored), artefactDigest: o.digest, attempt: 1,
    });
    this.deps.log.info({ run: run.id, commit: run.commit, actor: o.actor, ci: o.ci.provider, job: o.ci.jobUrl }, 'pipeline run started from CI');
    this.drive(run.id);
    return run;
  }

  /** A failed run goes again from the stage that failed (from build, if the build, tests or packing failed). */
  rerun(id: number, actor: string): PipelineRun {
    const { pipeline } = this.deps.host.store;
    const run = this.mustRun(id);
    if (run.status !== 'failed') throw new SlipwayError('E_RUN_STATE', `run #${id} is ${run.status}; only a failed run can be re-run`, { run: id, status: run.status });
    const from: StageName = BUILD_STAGES.has(run.stage) ? 'build' : run.stage;
    const now = this.deps.clock.now();
    const next: PipelineRun = { ...run, status: 'running', stage: from, reason: null, finishedAt: null, updatedAt: now, attempt: run.attempt + 1 };
    this.deps.host.store.atomically(() => {
      for (const name of STAGES.slice(STAGES.indexOf(from))) {
        const s = pipeline.getStage(id, name);
        if (s) pipeline.saveStage({ ...s, status: 'pending', startedAt: null, finishedAt: null, reason: null, outputTail: `${s.outputTail.slice(-2000)}\n[slipway] re-run #${next.attempt} by ${actor}\n`, data: {}, actor });
      }
      pipeline.saveRun(next);
    });
    this.deps.log.info({ run: id, from, actor }, 'pipeline run re-run');
    this.drive(id);
    return next;
  }

  approve(id: number, actor: string, roles: string[] | null): ApprovalRecord {
    return this.decide(id, actor, roles, 'approve', null);
  }

  reject(id: number, actor: string, roles: string[] | null, reason: string): ApprovalRecord {
    return this.decide(id, actor, roles, 'reject', reason);
  }

  private decide(id: number, actor: string, roles: string[] | null, decision: 'approve' | 'reject', reason: string | null): ApprovalRecord {
    const { store } = this.deps.host;
    const run = this.mustRun(id);
    const { config } = this.configOf(run);
    const policy = config.pipeline?.environments[config.pipeline.productionEnv]?.approval ?? { count: 0, roles: [], distinctFromStarter: true };
    const refusal = approvalRefusal({ run, policy, actor, roles, given: decision === 'approve' ? store.pipeline.approvals(id) : [], decision });
    if (refusal) throw new SlipwayError(isRunFinished(run.status) ? 'E_RUN_STATE' : 'E_APPROVAL_REFUSED', refusal, { run: id, actor });
    const record = store.pipeline.addApproval({ runId: id, actor, decision, reason, roles, at: this.deps.clock.now(), attempt: run.attempt });
    this.deps.log.info({ run: id, actor, decision }, `pipeline run ${decision === 'approve' ? 'approved' : 'rejected'}`);
    this.publishDecision(run, config, record, policy.count);
    this.wakers.get(id)?.();
    return record;
  }

  /** approval.requested, to production's event stream and webhooks: who may sign off, and how. */
  private publishApprovalRequested(run: PipelineRun, config: ServiceConfig, waiting: string): void {
    const spec = config.pipeline;
    if (!spec || !this.deps.publish) return;
    const policy = spec.environments[spec.productionEnv]?.approval;
    const env = envKey(config.service, spec.productionEnv);
    const by = policy && policy.roles.length > 0 ? ` by ${policy.roles.join(' or ')}` : '';
    this.deps.publish({
      type: 'approval.requested', env, rolloutId: null, level: 'info',
      message: `${env}: run #${run.id} (${run.version}) waits for sign-off${by}; ${waiting}`,
      data: { run: run.id, version: run.version, commit: run.commit, startedBy: run.startedBy, required: policy?.count ?? 0, roles: policy?.roles ?? [] },
    });
  }

  private publishDecision(run: PipelineRun, config: ServiceConfig, record: ApprovalRecord, required: number): void {
    const spec = config.pipeline;
    if (!spec || !this.deps.publish) return;
    const env = envKey(config.service, spec.productionEnv);
    if (record.decision === 'reject') {
      this.deps.publish({
        type: 'approval.rejected', env, rolloutId: null, level: 'warn',
        message: `${env}: run #${run.id} (${run.version}) rejected by ${record.actor}: ${record.reason ?? ''}`.trim(),
        data: { run: run.id, version: run.version, by: record.actor, reason: record.reason },
      });
      return;
    }
    const counted = countedApprovals(this.deps.host.store.pipeline.approvals(run.id), run.attempt).length;
    const remaining = Math.max(0, required - counted);
    this.deps.publish({
      type: 'approval.granted', env, rolloutId: null, level: 'info',
      message: `${env}: run #${run.id} (${run.version}) approved by ${record.actor}; ${remaining > 0 ? `waiting for ${remaining} more approval(s)` : 'it goes on to production'}`,
      data: { run: run.id, version: run.version, by: record.actor, approvals: counted, required, remaining },
    });
  }

  view(id: number): RunView {
    const run = this.mustRun(id);
    const { store } = this.deps.host;
    const stages = store.pipeline.stages(id);
    const ordered = STAGES.map((name) => stages.find((s) => s.name === name) ?? pendingStage(id, name));
    return { run: this.viewOf(run), stages: ordered, approvals: store.pipeline.approvals(id) };
  }

  /**
   * A page of run ids, newest first, of the runs `filter` takes (status, stage), each
   * started before run `before` when given: with how many there are in all, whether
   * more follow and the `before` that asks for them.
   */
  page(o: { limit: number; before?: number | undefined } & RunFilter): { ids: number[]; total: number; more: boolean; next: number | null } {
    const { pipeline } = this.deps.host.store;
    const filter: RunFilter = { status: o.status, stage: o.stage };
    const rows = pipeline.listRuns(o.limit + 1, o.before ?? null, filter);
    const items = rows.slice(0, o.limit);
    const more = rows.length > o.limit;
    return { ids: items.map((r) => r.id), total: pipeline.countRuns(filter), more, next: more ? items[items.length - 1]!.id : null };
  }

  /** The newest run of this commit that has not failed, if any: a push delivered again is answered with it. */
  unfailedRunOf(commit: string): RunView['run'] | null {
    const run = this.deps.host.store.pipeline.newestUnfailedRunOfCommit(commit);
    return run ? this.viewOf(run) : null;
  }

  private viewOf(run: PipelineRun): RunView['run'] {
    const { configText: _c, ...rest } = run;
    const { subdir, config, ci } = this.configOf(run);
    const approval = config.pipeline?.environments[config.pipeline.productionEnv]?.approval ?? { count: 0, roles: [], distinctFromStarter: true };
    return { ...rest, subdir, productionEnv: config.pipeline?.productionEnv ?? null, ci: ci ?? null, approval };
  }

  checklist(id: number): { run: RunView['run']; items: ChecklistItem[] } {
    const run = this.mustRun(id);
    const { store } = this.deps.host;
    const { config, ci } = this.configOf(run);
    const stages = store.pipeline.stages(id);
    const target = stages.find((s) => s.name === 'production_deploy')?.data['rollbackTarget'] as { digest?: string } | null | undefined;
    const kept = target?.digest ? store.getArtefact(target.digest) : null;
    const present = target?.digest ? kept !== null && existsSync(kept.path) : null;
    const items = buildChecklist({
      run, stages, approvals: store.pipeline.approvals(id),
      approvalsRequired: config.pipeline?.environments[config.pipeline.productionEnv]?.approval.count ?? 0,
      rollbackArtefactPresent: present, ci: ci ?? null,
    });
    return { run: this.view(id).run, items };
  }

  /**
   * Gives up the service's pipeline user, its HOME and its uid (environment-teardown.ts
   * asks, when the service's last environment is removed), with the directories of
   * its runs: the checkouts in them are the user's, and no tree of a uid may outlive
   * its claim, for the uid may next run another service's code. Unless a run of the
   * service is unfinished: that run still runs as the user, so nothing goes, and the
   * runs are answered. released: false when the service had no pipeline user here.
   */
  releaseUser(service: string): { released: boolean; keptFor: number[] } {
    const { pipeline } = this.deps.host.store;
    const keptFor = pipeline.unfinishedRuns().filter((r) => r.service === service).map((r) => r.id);
    if (keptFor.length > 0) return { released: false, keptFor };
    const trees = listDir(this.deps.workDir).flatMap((name) => {
      const id = /^run-(\d+)$/.exec(name)?.[1];
      return id !== undefined && pipeline.getRun(Number(id))?.service === service ? [join(this.deps.workDir, name)] : [];
    });
    return { released: this.deps.identity.releasePipelineUser({ releasesDir: this.deps.releasesDir, service, trees }), keptFor: [] };
  }

  /** The newest run that built this artefact, if any. */
  runOfArtefact(digest: string): PipelineRun | null {
    return this.deps.host.store.pipeline.newestRunOfArtefact(digest);
  }

  /** The environment a run's approval is for (its production), or undefined when there is no such run. */
  approvalEnvOf(id: number): string | undefined {
    const run = this.deps.host.store.pipeline.getRun(id);
    if (!run) return undefined;
    const { config } = this.configOf(run);
    return config.pipeline ? envKey(config.service, config.pipeline.productionEnv) : undefined;
  }

  private mustRun(id: number): PipelineRun {
    const run = this.deps.host.store.pipeline.getRun(id);
    if (!run) throw new SlipwayError('E_NOT_FOUND', `no pipeline run #${id}; see slipway runs`, { run: id });
    return run;
  }

  private configOf(run: PipelineRun): StoredRunConfig {
    try {
      return JSON.parse(run.configText) as StoredRunConfig;
    } catch (e) {
      throw new SlipwayError('E_STATE_CORRUPT', `the config of run #${run.id} is unreadable`, {}, { cause: e });
    }
  }

  private drive(id: number): void {
    if (this.stopped) return;
    if (this.driving.has(id)) {
      this.wakers.get(id)?.();
      return;
    }
    const p = this.loop(id)
      .catch((e: unknown) => this.deps.log.error({ run: id, err: errorMessage(e) }, 'pipeline run driver failed'))
      .finally(() => this.driving.delete(id));
    this.driving.set(id, p);
  }

  private async loop(id: number): Promise<void> {
    const { pipeline } = this.deps.host.store;
    while (!this.stopped) {
      const run = pipeline.getRun(id);
      if (!run || isRunFinished(run.status)) return;
      const { config, subdir, ci } = this.configOf(run);
      const name = run.stage;
      const now = this.deps.clock.now();
      const prior = pipeline.getStage(id, name);
      const resumed = prior?.status === 'running';
      const stage: StageRecord = prior && (prior.status === 'running' || prior.status === 'waiting')
        ? { ...prior, status: 'running' }
        : { ...pendingStage(id, name), ...(prior ? { outputTail: prior.outputTail } : {}), status: 'running', startedAt: now, actor: run.startedBy };
      if (resumed) stage.outputTail += '[slipway] resumed after a server restart\n';
      pipeline.saveStage(stage);
      const ctx = this.context(run, { config, subdir, ci }, stage);
      let outcome: StageOutcome;
      try {
        outcome = await ((ci ? CI_HANDLERS[name] : undefined) ?? HANDLERS[name])(ctx);
      } catch (e) {
        if (this.stopped || e instanceof Stopping) return;
        outcome = { status: 'failed', reason: errorMessage(e) };
      }
      if (this.stopped) return; // a command killed by the shutdown is not the stage's failure
      const current = pipeline.getRun(id)!;
      const finished = this.deps.clock.now();
      const data = { ...stage.data, ...outcome.data };
      if (outcome.status === 'waiting') {
        // Once per attempt: a wake that finds it still waiting, or a restart, asks no one again.
        if (name === 'approval' && prior?.status !== 'waiting') this.publishApprovalRequested(run, config, outcome.reason ?? '');
        pipeline.saveStage({ ...stage, status: 'waiting', reason: outcome.reason, data });
        pipeline.saveRun({ ...current, status: 'waiting', reason: outcome.reason, updatedAt: finished });
        await this.waitForWake(id, outcome.retryMs);
        continue;
      }
      pipeline.saveStage({ ...stage, status: outcome.status, finishedAt: finished, reason: outcome.reason ?? null, data });
      this.deps.onStageFinished?.({ stage: name, outcome: outcome.status, seconds: Math.max(0, finished - (stage.startedAt ?? finished)) / 1000 });
      if (outcome.status === 'failed') {
        pipeline.saveRun({ ...current, status: 'failed', reason: `${name}: ${outcome.reason ?? 'failed'}`, updatedAt: finished, finishedAt: finished });
        this.deps.log.warn({ run: id, stage: name, reason: outcome.reason }, 'pipeline run failed');
        this.deps.onRunFinished?.(current.service);
        return;
      }
      const next = STAGES[STAGES.indexOf(name) + 1];
      if (next) {
        pipeline.saveRun({ ...current, status: 'running', stage: next, reason: null, updatedAt: finished });
        continue;
      }
      pipeline.saveRun({ ...current, status: 'succeeded', reason: null, updatedAt: finished, finishedAt: finished });
      this.deps.log.info({ run: id, version: current.version }, 'pipeline run succeeded');
      this.afterSuccess(current, config);
      this.deps.onRunFinished?.(current.service);
      return;
    }
  }

  /** The run's working directory goes; old artefacts beyond the kept number go, unless a release or a live run needs them. */
  private afterSuccess(run: PipelineRun, config: ServiceConfig): void {
    // The checkout is its pipeline user's: that user empties it (pipeline-user.ts).
    try {
      const runDir = this.runDir(run.id);
      removeRunDir(runDir, workDirOf(runDir), pipelineUser(this.deps.releasesDir, run.service, this.deps.identity));
    } catch (e) {
      this.deps.log.warn({ run: run.id, err: (e as Error).message }, 'pipeline: could not remove the run\'s working directory');
    }
    const live = new Set(this.deps.host.store.pipeline.unfinishedRuns().map((r) => r.artefactDigest).filter((d): d is string => d !== null));
    const removed = this.deps.host.trust.collect(run.service, config.pipeline?.keepArtefacts ?? 10, live);
    if (removed.length) this.deps.log.info({ service: run.service, removed }, 'collected old artefacts');
  }

  private runDir(id: number): string {
    return join(this.deps.workDir, `run-${id}`);
  }

  private context(run: PipelineRun, { config, subdir, ci }: StoredRunConfig, stage: StageRecord): StageContext {
    const { host, clock } = this.deps;
    const { pipeline } = host.store;
    const runDir = this.runDir(run.id);
    mkdirSync(runDir, { recursive: true });
    const user = pipelineUser(this.deps.releasesDir, run.service, this.deps.identity);
    readyRunDirs([this.deps.workDir, runDir], workDirOf(runDir), user);
    const save = () => pipeline.saveStage(stage);
    const updateRun = (patch: Partial<PipelineRun>) => {
      Object.assign(run, patch);
      pipeline.saveRun({ ...pipeline.getRun(run.id)!, ...patch, updatedAt: clock.now() });
    };
    return {
      host, run, config, pipeline: config.pipeline!, runDir, subdir, ci: ci ?? null, replay: this.deps.replay ?? null, data: stage.data, signal: this.abort.signal,
      user,
      output: (text) => {
        stage.outputTail = (stage.outputTail + text).slice(-OUTPUT_TAIL_CHARS);
        save();
      },
      record: (patch) => {
        Object.assign(stage.data, patch);
        save();
      },
      stageData: (name) => pipeline.getStage(run.id, name)?.data ?? null,
      setVersion: (version) => updateRun({ version }),
      setArtefact: (digest) => updateRun({ artefactDigest: digest }),
      now: () => clock.now(),
      sleep: (ms) => this.sleep(ms),
    };
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.reject(new Stopping());
    return this.deps.clock.sleep(ms, this.abort.signal).then(() => {
      if (this.abort.signal.aborted) throw new Stopping();
    });
  }

  private waitForWake(id: number, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        t.cancel();
        this.wakers.delete(id);
        resolve();
      };
      const t = this.deps.clock.setTimeout(done, ms);
      this.wakers.set(id, done);
    });
  }
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function pendingStage(runId: number, name: StageName): StageRecord {
  return { runId, name, status: 'pending', startedAt: null, finishedAt: null, actor: null, outputTail: '', reason: null, data: {} };
}
