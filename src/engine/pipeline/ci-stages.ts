// The first three stages of a run whose artefact a hosted CI built and tested
// (slipway ci-release). The server does not rebuild: build records the CI's account
// of the commit and branch, test reads the counts of the CI's own test report (parsed
// by the server when the run was asked for), and package checks the uploaded bytes
// against their digest again and signs a manifest that says where they came from.
// The later stages are the same as for any run; their commands run in the unpacked
// artefact instead of a checkout.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readPackedFile } from '../../artefact/index.ts';
import { SlipwayError } from '../../core/errors.ts';
import { ciProviderLabel, type CiOrigin } from '../../core/pipeline/ci-origin.ts';
import type { ArtefactManifest, StageName } from '../../core/pipeline/pipeline-run.ts';
import { ensureCheckout, fileDigests } from './build-stages.ts';
import type { StageContext, StageOutcome } from './stage-context.ts';

function by(ci: CiOrigin): string {
  return `${ciProviderLabel(ci.provider)}${ci.jobUrl ? ` job ${ci.jobUrl}` : ''}`;
}

function ciOf(ctx: StageContext): CiOrigin {
  if (!ctx.ci) throw new SlipwayError('E_INTERNAL', `run #${ctx.run.id} is not a CI run`);
  return ctx.ci;
}

export async function ciBuildStage(ctx: StageContext): Promise<StageOutcome> {
  const ci = ciOf(ctx);
  const main = ctx.pipeline.mainBranch;
  ctx.output(`built by ${by(ci)} at commit ${ci.commit}${ci.branch ? ` (branch ${ci.branch})` : ''}; the server does not rebuild it\n`);
  return {
    status: 'succeeded',
    data: {
      origin: 'ci', provider: ci.provider, jobUrl: ci.jobUrl, repository: ci.repository, commit: ci.commit, version: ctx.run.version,
      branch: ci.branch, mainBranch: main,
      // The CI's word, kept as such: with no repository here, the server cannot run git merge-base.
      branchClaim: ci.branch === null ? null : ci.branch === main ? 'on-main' : 'off-main',
    },
  };
}

export async function ciTestStage(ctx: StageContext): Promise<StageOutcome> {
  const ci = ciOf(ctx);
  const report = ci.testReport;
  if (!report) return { status: 'skipped', reason: `${by(ci)} sent no test report (slipway ci-release --test-report)` };
  ctx.output(`${report.format === 'junit' ? 'JUnit XML' : 'TAP'} report from ${by(ci)}: ${report.pass}/${report.tests} passed, ${report.fail} failed, ${report.skipped} skipped\n`);
  const data = { ...report, jobUrl: ci.jobUrl };
  if (report.fail > 0) {
    return { status: 'failed', reason: `the CI's test report has ${report.fail} failing test(s): ${report.failures.join('; ') || 'names not given'}`, data };
  }
  return { status: 'succeeded', data };
}

export async function ciPackageStage(ctx: StageContext): Promise<StageOutcome> {
  const ci = ciOf(ctx);
  // Checked on upload and again here: the bytes staging will run are the bytes the CI sent.
  const verified = await ctx.host.trust.verify(ctx.run.artefactDigest ?? '');
  const record = ctx.host.store.getArtefact(verified.digest)!;
  const files = await fileDigests(record.path);
  const r = ci.testReport;
  const manifest: ArtefactManifest = {
    service: ctx.config.service, version: ctx.run.version, digest: verified.digest, commit: ci.commit, builtAt: record.createdAt,
    builder: `${by(ci)}, uploaded by ${ctx.run.startedBy} for pipeline run #${ctx.run.id}`,
    tests: r ? { command: null, passed: r.fail === 0, tests: r.tests, pass: r.pass, fail: r.fail, durationMs: r.durationMs ?? 0, exitCode: null } : null,
    files, origin: 'ci', runId: ctx.run.id,
  };
  const { keyId } = ctx.host.trust.sign(manifest);
  ctx.output(`artefact ${verified.digest} (${Object.keys(files).length} files) hashes to its digest; manifest signed by key ${keyId}\n`);
  return { status: 'succeeded', data: { digest: verified.digest, version: ctx.run.version, bytes: record.bytes, files: Object.keys(files).length, keyId, builtBy: ci.provider, jobUrl: ci.jobUrl } };
}

export const CI_HANDLERS: Partial<Record<StageName, (ctx: StageContext) => Promise<StageOutcome>>> = {
  build: ciBuildStage,
  test: ciTestStage,
  package: ciPackageStage,
};

/** Release notes of a CI's run: pipeline.release_notes_file from the artefact, else what the CI sent, else a line naming the build. */
export async function ciReleaseNotes(ctx: StageContext): Promise<{ releaseNotes: string; releaseNotesSource: string }> {
  const ci = ciOf(ctx);
  if (ctx.pipeline.releaseNotesFile) {
    const file = join(await ensureCheckout(ctx), ctx.pipeline.releaseNotesFile);
    return { releaseNotes: existsSync(file) ? readFileSync(file, 'utf8') : '', releaseNotesSource: `file ${ctx.pipeline.releaseNotesFile} in the artefact` };
  }
  if (ci.notes) return { releaseNotes: ci.notes, releaseNotesSource: `sent by ${by(ci)}` };
  return {
    releaseNotes: `commit ${ci.commit}${ci.branch ? ` on ${ci.branch}` : ''}, built and tested by ${by(ci)}`,
    releaseNotesSource: `the CI's build (${by(ci)} sent no notes)`,
  };
}

/** slipway.yaml as packed at the artefact's top: the run's config; null when the artefact has none. */
export function readPackedConfig(file: string): Promise<string | null> {
  return readPackedFile(file, 'slipway.yaml');
}
