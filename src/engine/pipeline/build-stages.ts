// The first three stages of a run: build (a clean checkout of the commit, then
// build.command), test (test.command, its result and output recorded) and package
// (a content-addressed artefact, versioned, with a manifest signed by the server).

import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tar from 'tar';
import { packDirectory, sha256File, unpackArtefact } from '../../artefact/index.ts';
import { SlipwayError } from '../../core/errors.ts';
import { summariseTestOutput, versionFor, type ArtefactManifest, type TestSummary } from '../../core/pipeline/pipeline-run.ts';
import { branchContaining, checkoutClean, tagsAt } from './git-source.ts';
import { describeFailure, runCommand } from './run-command.ts';
import { tarAs, untarAs, type CommandUser } from './pipeline-user.ts';
import type { StageContext, StageOutcome } from './stage-context.ts';

/** runDir/work/src: work is the pipeline user's own directory (pipeline-user.ts). */
export function checkoutDir(ctx: StageContext): string {
  return join(workDirOf(ctx.runDir), 'src');
}

export function workDirOf(runDir: string): string {
  return join(runDir, 'work');
}

/**
 * The checkout the later commands (acceptance, provision, backup) run in: kept from
 * the build, or checked out again (clean) when a restart or re-run finds it gone.
 */
export async function ensureCheckout(ctx: StageContext): Promise<string> {
  if (!existsSync(checkedOutMarker(ctx)) || !existsSync(checkoutDir(ctx))) await freshCheckout(ctx);
  return serviceDir(ctx);
}

// Beside the checkout, not in it: nothing of slipway's may end up in the artefact.
function checkedOutMarker(ctx: StageContext): string {
  return join(ctx.runDir, 'checkout-complete');
}

async function freshCheckout(ctx: StageContext): Promise<void> {
  rmSync(checkedOutMarker(ctx), { force: true });
  const { user } = ctx;
  // The user's checkout is removed by the user (root never walks it: pipeline-user.ts).
  if (user === null) rmSync(checkoutDir(ctx), { recursive: true, force: true });
  else removeAs(user, checkoutDir(ctx));
  if (ctx.ci) {
    // A CI's run has no repository here: the artefact it uploaded is the source its commands run in.
    const artefact = ctx.host.store.getArtefact(ctx.run.artefactDigest ?? '');
    if (!artefact) throw new SlipwayError('E_NOT_FOUND', `artefact ${ctx.run.artefactDigest ?? '(none)'} of run #${ctx.run.id} is not on the server; start the release from CI again`);
    if (user === null) await unpackArtefact({ file: artefact.path, targetDir: checkoutDir(ctx), expectedDigest: artefact.digest });
    else {
      // Unpacked by the user, who can write nothing but its own: the entries need no
      // judging here (what comes back to be packed is judged, packFromCheckout), the
      // bytes only their digest.
      const digest = await sha256File(artefact.path);
      if (digest !== artefact.digest) throw new SlipwayError('E_ARTEFACT_TAMPERED', `artefact ${artefact.digest} of run #${ctx.run.id} was altered on the server: its file now hashes to ${digest}; start the release from CI again`, { expected: artefact.digest, actual: digest });
      await untarAs(user, createReadStream(artefact.path), checkoutDir(ctx), { gzip: true });
    }
  } else await checkoutClean({ repo: ctx.run.repo, commit: ctx.run.commit }, checkoutDir(ctx), user);
  writeFileSync(checkedOutMarker(ctx), ctx.run.commit);
}

export function serviceDir(ctx: StageContext): string {
  return ctx.subdir ? join(checkoutDir(ctx), ctx.subdir) : checkoutDir(ctx);
}

/** What every command of the run sees (as data, in its environment). */
export function runEnv(ctx: StageContext, extra: Record<string, string> = {}): Record<string, string> {
  return {
    SLIPWAY_RUN: String(ctx.run.id), SLIPWAY_SERVICE: ctx.config.service, SLIPWAY_COMMIT: ctx.run.commit,
    SLIPWAY_VERSION: ctx.run.version, ...(ctx.run.artefactDigest ? { SLIPWAY_ARTEFACT: ctx.run.artefactDigest } : {}), ...extra,
  };
}

export async function buildStage(ctx: StageContext): Promise<StageOutcome> {
  const src = { repo: ctx.run.repo, commit: ctx.run.commit };
  await freshCheckout(ctx);
  ctx.output(`checked out ${ctx.run.commit} of ${ctx.run.repo} (git archive: committed files only)\n`);
  const branch = ctx.pipeline.mainBranch;
  const onBranch = await branchContaining(src, branch);
  const version = versionFor(await tagsAt(src), ctx.run.commit);
  ctx.setVersion(version);
  const data = { commit: ctx.run.commit, version, mainBranch: branch, onMainBranch: onBranch !== null, branchEvidence: onBranch ? `git merge-base --is-ancestor ${ctx.run.commit.slice(0, 12)} ${onBranch}` : null };
  if (!existsSync(serviceDir(ctx))) return { status: 'failed', reason: `the commit has no directory "${ctx.subdir}"`, data };
  if (!ctx.pipeline.build) return { status: 'succeeded', data: { ...data, command: null } };
  const r = await runCommand({ command: ctx.pipeline.build, cwd: serviceDir(ctx), env: runEnv(ctx), timeoutMs: ctx.pipeline.commandTimeoutMs, signal: ctx.signal, user: ctx.user });
  ctx.output(r.outputTail);
  const result = { ...data, command: ctx.pipeline.build, exitCode: r.exitCode, durationMs: r.durationMs };
  return r.ok ? { status: 'succeeded', data: result } : { status: 'failed', reason: `build command ${describeFailure(r)}`, data: result };
}

/**
 * Packs the service's directory of the checkout. On a root server the user's tree is
 * never read by root's path walk: the user tars it into a pipe, root checks and
 * unpacks that as it would an uploaded artefact, and packs its own copy.
 */
async function packFromCheckout(ctx: StageContext, outFile: string): Promise<Awaited<ReturnType<typeof packDirectory>>> {
  if (ctx.user === null) return packDirectory({ dir: serviceDir(ctx), outFile });
  const handover = join(ctx.runDir, 'handover.tar.gz');
  const copy = join(ctx.runDir, 'packed');
  rmSync(copy, { recursive: true, force: true });
  try {
    await tarAs(ctx.user, serviceDir(ctx), handover);
    await unpackArtefact({ file: handover, targetDir: copy });
    return await packDirectory({ dir: copy, outFile });
  } finally {
    rmSync(handover, { force: true });
    rmSync(copy, { recursive: true, force: true });
  }
}

export async function testStage(ctx: StageContext): Promise<StageOutcome> {
  if (!ctx.pipeline.test) {
    const summary: TestSummary = { command: null, passed: true, tests: null, pass: null, fail: null, durationMs: 0, exitCode: null };
    return { status: 'skipped', reason: 'slipway.yaml has no test.command', data: { ...summary } };
  }
  const r = await runCommand({ command: ctx.pipeline.test, cwd: serviceDir(ctx), env: runEnv(ctx), timeoutMs: ctx.pipeline.commandTimeoutMs, signal: ctx.signal, user: ctx.user });
  ctx.output(r.outputTail);
  const summary: TestSummary = { command: ctx.pipeline.test, passed: r.ok, ...summariseTestOutput(r.outputTail), durationMs: r.durationMs, exitCode: r.exitCode };
  return r.ok ? { status: 'succeeded', data: { ...summary } } : { status: 'failed', reason: `tests failed: ${describeFailure(r)}`, data: { ...summary } };
}

export async function packageStage(ctx: StageContext): Promise<StageOutcome> {
  const outFile = join(ctx.runDir, 'artefact.tar.gz');
  rmSync(outFile, { force: true });
  const packed = await packFromCheckout(ctx, outFile);
  // A run of a commit built before packs the same artefact: the store keeps the one it
  // has and leaves this stream unread, so it is closed before its file goes.
  const body = createReadStream(packed.file);
  let record: Awaited<ReturnType<typeof ctx.host.storeArtefact>>;
  try {
    record = await ctx.host.storeArtefact(body, packed.digest, ctx.config.service);
  } finally {
    body.destroy();
  }
  rmSync(outFile, { force: true });
  const files = await fileDigests(record.path);
  const testStage = ctx.stageData('test');
  const manifest: ArtefactManifest = {
    service: ctx.config.service, version: ctx.run.version, digest: record.digest, commit: ctx.run.commit, builtAt: ctx.now(),
    builder: `slipway pipeline run #${ctx.run.id} (started by ${ctx.run.startedBy})`,
    tests: testStage ? (testStage as unknown as TestSummary) : null, files, origin: 'build', runId: ctx.run.id,
  };
  const { keyId } = ctx.host.trust.sign(manifest);
  ctx.setArtefact(record.digest);
  ctx.output(`packed ${packed.fileCount} files as ${record.digest} (version ${ctx.run.version}); manifest signed by key ${keyId}\n`);
  return { status: 'succeeded', data: { digest: record.digest, version: ctx.run.version, bytes: record.bytes, files: Object.keys(files).length, keyId } };
}

/** sha256 of every regular file in the .tar.gz, by path: what the manifest vouches for. */
export async function fileDigests(file: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  await tar.t({
    file,
    onReadEntry: (entry) => {
      if (entry.type !== 'File') return;
      const h = createHash('sha256');
      entry.on('data', (d: Buffer) => h.update(d));
      entry.on('end', () => (files[entry.path] = h.digest('hex')));
    },
  });
  return Object.fromEntries(Object.entries(files).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Removes a path inside the user's work directory as the user. */
function removeAs(user: CommandUser, path: string): void {
  const r = spawnSync('rm', ['-rf', '--', path], { uid: user.uid, gid: user.gid, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new SlipwayError('E_INTERNAL', `could not remove ${path} as the pipeline's user: ${(r.stderr ?? '').trim() || r.error?.message}`);
}
