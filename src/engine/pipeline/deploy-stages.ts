// The stages of a run after its artefact exists: staging deploy, acceptance,
// staging health over a window, the rollback drill, approval, production (freeze,
// notes, rollback target, backup, deploy by the configured strategy) and the watch.
// Each stage records what it did before it waits on it, so after a restart it picks
// up the same rollout instead of starting another.

import { envKey } from '../../core/env-key.ts';
import { SlipwayError, errorMessage } from '../../core/errors.ts';
import { freezeDecision } from '../../core/pipeline/freeze.ts';
import { countedApprovals } from '../../core/pipeline/pipeline-run.ts';
import { TERMINAL_PHASES } from '../../core/rollout.ts';
import type { ListenAddress } from '../../core/service-config.ts';
import { ensureCheckout, runEnv } from './build-stages.ts';
import { ciReleaseNotes } from './ci-stages.ts';
import { commitMessages, readFileAt } from './git-source.ts';
import { describeFailure, runCommand } from './run-command.ts';
import type { StageContext, StageOutcome } from './stage-context.ts';

const TERMINAL = new Set<string>(TERMINAL_PHASES);

/** The pipeline names environments as slipway.yaml does; state is kept under the run's service's key. */
const keyOf = (ctx: StageContext, env: string): string => envKey(ctx.config.service, env);

export function listenUrl(a: ListenAddress): string {
  const host = a.host === '0.0.0.0' ? '127.0.0.1' : a.host === '::' ? '::1' : a.host;
  return host.includes(':') ? `http://[${host}]:${a.port}` : `http://${host}:${a.port}`;
}

function digestOf(ctx: StageContext): string {
  if (!ctx.run.artefactDigest) throw new SlipwayError('E_RUN_STATE', `run #${ctx.run.id} has no artefact yet`);
  return ctx.run.artefactDigest;
}

interface DeployResult {
  ok: boolean;
  release: number | null;
  rollout: number | null;
  phase: string;
  reason: string | null;
}

/** Deploys the run's artefact to env (or adopts the rollout a crash left) and waits for the rollout to end. */
async function deployAndWait(ctx: StageContext, env: string, key: string): Promise<DeployResult> {
  const { store } = ctx.host;
  const digest = digestOf(ctx);
  let rolloutId = ctx.data[`${key}Rollout`] as number | undefined;
  if (rolloutId === undefined) {
    const active = store.activeRollout(keyOf(ctx, env));
    if (active) {
      if (store.getRelease(active.toReleaseId)?.artefactDigest !== digest) {
        return { ok: false, release: null, rollout: active.id, phase: active.phase, reason: `${env} is busy with rollout #${active.id} by ${active.createdBy}; re-run when it has finished` };
      }
      rolloutId = active.id; // ours, started before a restart
    }
  }
  if (rolloutId === undefined) {
    const answer = await ctx.host.deploy({ env, artefactDigest: digest, config: ctx.config, actor: `${ctx.run.startedBy} (run #${ctx.run.id})` });
    if (answer.unchanged || !answer.rollout) {
      ctx.output(`${env} already runs this artefact and config as #${answer.release.number}\n`);
      ctx.record({ [`${key}Release`]: answer.release.number, [`${key}Rollout`]: null });
      return { ok: true, release: answer.release.number, rollout: null, phase: 'succeeded', reason: null };
    }
    rolloutId = answer.rollout.id;
    ctx.record({ [`${key}Rollout`]: rolloutId, [`${key}Release`]: answer.release.number });
    ctx.output(`${env}#${answer.release.number}: rollout #${rolloutId} (${answer.rollout.plan.steps.length} steps)\n`);
  }
  if (rolloutId === null) return { ok: true, release: ctx.data[`${key}Release`] as number, rollout: null, phase: 'succeeded', reason: null };
  return waitForRollout(ctx, rolloutId);
}

async function waitForRollout(ctx: StageContext, rolloutId: number): Promise<DeployResult> {
  const { store } = ctx.host;
  for (;;) {
    const r = store.getRollout(rolloutId);
    if (!r) return { ok: false, release: null, rollout: rolloutId, phase: 'missing', reason: `rollout #${rolloutId} is not recorded` };
    if (TERMINAL.has(r.phase)) {
      const release = store.getRelease(r.toReleaseId)?.number ?? null;
      ctx.output(`rollout #${r.id} of ${r.env}#${release ?? '?'}: ${r.phase}${r.reason ? ` (${r.reason})` : ''}\n`);
      return { ok: r.phase === 'succeeded', release, rollout: r.id, phase: r.phase, reason: r.phase === 'succeeded' ? null : `rollout #${r.id} ${r.phase}${r.reason ? `: ${r.reason}` : ''}` };
    }
    await ctx.sleep(250);
  }
}

async function runEnvCommand(ctx: StageContext, o: { what: string; command: string; env: string; extra?: Record<string, string> }): Promise<string | null> {
  const spec = ctx.config.environments[o.env]!;
  const r = await runCommand({
    command: o.command, cwd: await ensureCheckout(ctx), timeoutMs: ctx.pipeline.commandTimeoutMs, signal: ctx.signal, user: ctx.user,
    // The environment's plain config as data; secrets stay with the instances.
    env: { ...spec.config, ...runEnv(ctx, { SLIPWAY_ENV: o.env, SLIPWAY_URL: listenUrl(spec.listen), ...o.extra }) },
  });
  ctx.output(`$ ${o.what}: ${o.command}\n${r.outputTail}`);
  return r.ok ? null : `${o.what} command ${describeFailure(r)}`;
}

async function provision(ctx: StageContext, env: string): Promise<string | null> {
  const command = ctx.pipeline.environments[env]?.provision;
  if (!command || ctx.data['provisioned'] === true) return null;
  const failure = await runEnvCommand(ctx, { what: 'provision', command, env });
  if (!failure) ctx.record({ provisioned: true });
  return failure;
}

export async function stagingDeployStage(ctx: StageContext): Promise<StageOutcome> {
  const env = ctx.pipeline.stagingEnv;
  const failure = await provision(ctx, env);
  if (failure) return { status: 'failed', reason: failure };
  const r = await deployAndWait(ctx, env, 'deploy');
  const data = { env, release: r.release, rollout: r.rollout, phase: r.phase };
  return r.ok ? { status: 'succeeded', data } : { status: 'failed', reason: r.reason ?? 'staging deploy failed', data };
}

export async function acceptanceStage(ctx: StageContext): Promise<StageOutcome> {
  const env = ctx.pipeline.stagingEnv;
  const command = ctx.pipeline.environments[env]?.acceptance;
  if (!command) return { status: 'skipped', reason: `${env} has no acceptance.command` };
  const url = listenUrl(ctx.config.environments[env]!.listen);
  const failure = await runEnvCommand(ctx, { what: 'acceptance', command, env });
  return failure ? { status: 'failed', reason: failure, data: { url, command } } : { status: 'succeeded', data: { url, command } };
}

export async function stagingHealthStage(ctx: StageContext): Promise<StageOutcome> {
  const env = ctx.pipeline.stagingEnv;
  const { store, sampler } = ctx.host;
  const spec = ctx.config.environments[env]!;
  const url = `${listenUrl(spec.listen)}${ctx.config.health.path}`;
  const stableId = store.getStableReleaseId(keyOf(ctx, env));
  const release = stableId === null ? null : store.getRelease(stableId);
  if (!release || release.artefactDigest !== ctx.run.artefactDigest) {
    return { status: 'failed', reason: `${env} no longer runs this artefact (stable: ${release ? `#${release.number}` : 'none'}); it was rolled back or replaced` };
  }
  const before = sampler.snapshot(keyOf(ctx, env), release.number)?.requests ?? 0;
  const started = ctx.now();
  let probes = 0;
  let healthy = 0;
  const failures: string[] = [];
  while (ctx.now() - started < ctx.pipeline.healthWindowMs) {
    probes++;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(ctx.config.health.timeoutMs) });
      await res.arrayBuffer();
      if (res.ok) healthy++;
      else failures.push(`HTTP ${res.status}`);
    } catch (e) {
      failures.push(errorMessage(e));
    }
    await ctx.sleep(250);
  }
  // One more sampler pass, so the window's requests are counted.
  await ctx.sleep(1200);
  const requestsCounted = (sampler.snapshot(keyOf(ctx, env), release.number)?.requests ?? 0) - before;
  const readyInstances = store.liveInstances(keyOf(ctx, env)).filter((i) => i.releaseId === release.id && i.state === 'ready').length;
  const stillStable = store.getStableReleaseId(keyOf(ctx, env)) === release.id;
  const data = { env, url, windowMs: ctx.pipeline.healthWindowMs, probes, healthyProbes: healthy, failures: failures.slice(0, 5), readyInstances, wantedInstances: spec.instances, requestsCounted, release: release.number };
  ctx.output(`${healthy}/${probes} probes of ${url} healthy; ${readyInstances}/${spec.instances} instances ready; ${requestsCounted} requests counted by the router\n`);
  if (!stillStable) return { status: 'failed', reason: `${env} was rolled back during the health window`, data };
  if (healthy < probes) return { status: 'failed', reason: `${probes - healthy} of ${probes} health probes failed (${failures[0] ?? ''})`, data };
  if (readyInstances < spec.instances) return { status: 'failed', reason: `only ${readyInstances} of ${spec.instances} instances are ready`, data };
  return { status: 'succeeded', data };
}

export async function rollbackDrillStage(ctx: StageContext): Promise<StageOutcome> {
  const env = ctx.pipeline.stagingEnv;
  if (!ctx.pipeline.rollbackDrill) return { status: 'skipped', reason: 'pipeline.rollback_drill is false' };
  const { store } = ctx.host;
  if (ctx.data['backRollout'] === undefined) {
    const current = store.getStableReleaseId(keyOf(ctx, env));
    const made = current === null ? null : store.newestSucceededRolloutTo(keyOf(ctx, env), current);
    const previous = made?.fromReleaseId ? store.getRelease(made.fromReleaseId) : null;
    if (!previous || previous.artefactDigest === ctx.run.artefactDigest) {
      return { status: 'skipped', reason: `${env} has no earlier release of another artefact to roll back to` };
    }
    const answer = await ctx.host.rollback({ env: keyOf(ctx, env), actor: `${ctx.run.startedBy} (run #${ctx.run.id} drill)` });
    ctx.record({ backRollout: answer.rollout.id, backRelease: answer.release.number, fromRelease: store.getRelease(current!)?.number ?? null });
    ctx.output(`drill: rolling ${env} back to #${answer.release.number} (rollout #${answer.rollout.id})\n`);
  }
  const back = await waitForRollout(ctx, ctx.data['backRollout'] as number);
  if (!back.ok) return { status: 'failed', reason: `rolling back failed: ${back.reason ?? back.phase}` };
  const forward = await deployAndWait(ctx, env, 'forward');
  if (!forward.ok) return { status: 'failed', reason: `rolling forward again failed: ${forward.reason ?? forward.phase}` };
  const summary = `${env} rolled back from #${String(ctx.data['fromRelease'])} to #${String(ctx.data['backRelease'])} (rollout #${String(ctx.data['backRollout'])}) and forward to #${forward.release ?? '?'} (rollout #${forward.rollout ?? '-'})`;
  return { status: 'succeeded', data: { summary } };
}

export async function approvalStage(ctx: StageContext): Promise<StageOutcome> {
  const policy = ctx.pipeline.environments[ctx.pipeline.productionEnv]?.approval ?? { count: 0, roles: [], distinctFromStarter: true };
  if (policy.count === 0) return { status: 'succeeded', data: { required: 0, approvers: [] } };
  const given = ctx.host.store.pipeline.approvals(ctx.run.id).filter((a) => a.attempt === ctx.run.attempt);
  const rejected = given.find((a) => a.decision === 'reject');
  if (rejected) return { status: 'failed', reason: `rejected by ${rejected.actor}: ${rejected.reason ?? ''}` };
  const counted = countedApprovals(given, ctx.run.attempt);
  if (counted.length >= policy.count) {
    return { status: 'succeeded', data: { required: policy.count, approvers: counted.map((a) => a.actor) } };
  }
  return { status: 'waiting', reason: `waiting for ${policy.count - counted.length} more approval(s): slipway approve ${ctx.run.id}`, retryMs: 5000, data: { required: policy.count, approvers: counted.map((a) => a.actor) } };
}

export async function productionDeployStage(ctx: StageContext): Promise<StageOutcome> {
  const env = ctx.pipeline.productionEnv;
  const gates = ctx.pipeline.environments[env];
  if (ctx.data['deployRollout'] === undefined) {
    // One release of a service in production at a time: an older run deploying or
    // watching production goes first, so its watch is not cut short by this deploy.
    const ahead = ctx.host.store.pipeline.unfinishedRuns()
      .find((r) => r.id < ctx.run.id && r.service === ctx.run.service && (r.stage === 'production_deploy' || r.stage === 'watch'));
    if (ahead) return { status: 'waiting', reason: `behind run #${ahead.id}, which is at ${ahead.stage} in ${env}`, retryMs: 1000 };
    const freeze = freezeDecision(gates?.freeze ?? [], ctx.now());
    if (freeze.kind === 'refuse') return { status: 'failed', reason: `${env} is frozen: ${freeze.text}` };
    if (freeze.kind === 'wait') {
      return { status: 'waiting', reason: `${env} is frozen: ${freeze.text}; the run goes on when it closes`, retryMs: Math.max(200, Math.min(freeze.untilMs - ctx.now() + 50, 5000)) };
    }
  }
  if (!('releaseNotes' in ctx.data)) ctx.record(await notesAndTarget(ctx, env));
  if (gates?.backup && ctx.data['backedUp'] !== true) {
    const failure = await runEnvCommand(ctx, { what: 'backup', command: gates.backup, env });
    if (failure) return { status: 'failed', reason: failure };
    ctx.record({ backedUp: true });
  }
  const failure = await provision(ctx, env);
  if (failure) return { status: 'failed', reason: failure };
  const r = await deployAndWait(ctx, env, 'deploy');
  const strategy = ctx.config.environments[env]!.strategy.type;
  const data = { env, release: r.release, rollout: r.rollout, phase: r.phase, strategy };
  if (r.ok) return { status: 'succeeded', data };
  if (gates?.restore && (r.phase === 'rolled_back' || r.phase === 'failed')) {
    const restoreFailure = await runEnvCommand(ctx, { what: 'restore', command: gates.restore, env });
    ctx.record({ restored: restoreFailure === null });
  }
  return { status: 'failed', reason: r.reason ?? 'production deploy failed', data };
}

async function notesAndTarget(ctx: StageContext, env: string): Promise<Record<string, unknown>> {
  const { store } = ctx.host;
  const src = { repo: ctx.run.repo, commit: ctx.run.commit };
  let releaseNotes: string;
  let releaseNotesSource: string;
  if (ctx.ci) ({ releaseNotes, releaseNotesSource } = await ciReleaseNotes(ctx));
  else if (ctx.pipeline.releaseNotesFile) {
    const path = ctx.subdir ? `${ctx.subdir}/${ctx.pipeline.releaseNotesFile}` : ctx.pipeline.releaseNotesFile;
    releaseNotes = (await readFileAt(src, path)) ?? '';
    releaseNotesSource = `file ${path} at ${ctx.run.commit.slice(0, 7)}`;
  } else {
    const last = store.pipeline.lastProductionRun(ctx.config.service, ctx.run.id);
    releaseNotes = await commitMessages(src, last?.commit ?? null);
    releaseNotesSource = last ? `commits since ${last.commit.slice(0, 7)} (run #${last.id})` : 'the last 20 commits (no earlier production release)';
  }
  const stableId = store.getStableReleaseId(keyOf(ctx, env));
  const stable = stableId === null ? null : store.getRelease(stableId);
  const rollbackTarget = stable ? { env, release: stable.number, digest: stable.artefactDigest } : null;
  ctx.output(`release notes (${releaseNotesSource}):\n${releaseNotes}\nrollback target: ${rollbackTarget ? `${env}#${rollbackTarget.release}` : 'none (first release)'}\n`);
  return { releaseNotes, releaseNotesSource, rollbackTarget };
}

export async function watchStage(ctx: StageContext): Promise<StageOutcome> {
  const env = ctx.pipeline.productionEnv;
  const { store } = ctx.host;
  const prod = ctx.stageData('production_deploy') ?? {};
  const watchMs = ctx.config.environments[env]!.watchMs;
  const rolloutId = prod['deployRollout'] as number | null | undefined;
  const finishedAt = (rolloutId ? store.getRollout(rolloutId)?.finishedAt : null) ?? ctx.now();
  const releaseId = store.getStableReleaseId(keyOf(ctx, env));
  const ours = releaseId === null ? null : store.getRelease(releaseId);
  for (;;) {
    const stable = store.getStableReleaseId(keyOf(ctx, env));
    const active = store.activeRollout(keyOf(ctx, env));
    if (stable !== releaseId || ours?.artefactDigest !== ctx.run.artefactDigest || active) {
      const what = active?.kind === 'rollback' || (active?.phase === 'aborting') ? 'rolled back' : active ? `changed by rollout #${active.id} (${active.kind})` : 'rolled back or replaced';
      return { status: 'failed', reason: `${env} was ${what} during the watch window`, data: { watchMs } };
    }
    if (ctx.now() >= finishedAt + watchMs) break;
    await ctx.sleep(250);
  }
  ctx.output(`${env}#${ours.number} watched for ${watchMs} ms with no rollback\n`);
  return { status: 'succeeded', data: { watchMs, release: ours.number } };
}
