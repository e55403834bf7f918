// `slipway ci-release`: from a hosted CI's job (GitHub Actions, GitLab CI, any
// other) with only this CLI and a token, send the artefact the job built and its
// test report to the server and start a pipeline run of it. The server does not
// rebuild: the run goes through staging, acceptance, approval and production as any
// other, and its checklist says the build and tests happened in CI, with a link.

import { spawnSync } from 'node:child_process';
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { packDirectory, readPackedFile, sha256File } from '../artefact/index.ts';
import { parseConfigText } from '../config/index.ts';
import { SlipwayError } from '../core/errors.ts';
import { CI_PROVIDERS, TEST_REPORT_FORMATS, ciFactsFromEnvironment, ciSignedStatement, describeOrigin, isCiProvider, type CiProvider, type TestReportFormat } from '../core/pipeline/ci-origin.ts';
import { ciReleaseBody, type CiReleaseBody } from '../api/ci-schemas.ts';
import type { CommandContext } from './config-commands.ts';
import { reportStartedRun } from './pipeline-commands.ts';

interface CiReleaseOptions {
  dir: string;
  artefact?: string;
  testReport?: string;
  testFormat?: TestReportFormat;
  provider?: CiProvider;
  commit?: string;
  branch?: string;
  jobUrl?: string;
  repository?: string;
  releaseVersion?: string;
  notesFile?: string;
  signingKey?: string;
  detach?: boolean;
  wait?: boolean;
}

const MAX_REPORT_BYTES = 1024 * 1024;

function git(dir: string, args: string[]): string | null {
  const r = spawnSync('git', ['-C', dir, ...args], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

function oneOf<T extends string>(values: readonly T[], what: string) {
  return (v: string): T => {
    if (!(values as readonly string[]).includes(v)) throw new InvalidArgumentError(`${what} must be one of ${values.join(', ')}`);
    return v as T;
  };
}

function readBounded(file: string, flag: string, maxBytes: number): string {
  if (!existsSync(file)) throw new SlipwayError('E_BAD_REQUEST', `${flag} ${file}: no such file`);
  if (statSync(file).size > maxBytes) throw new SlipwayError('E_BAD_REQUEST', `${flag} ${file} is over ${maxBytes} bytes`);
  return readFileSync(file, 'utf8');
}

/** The request body, from the job's environment, the flags (which win) and the files named. */
function ciBody(o: CiReleaseOptions, dir: string, digest: string): CiReleaseBody {
  const facts = ciFactsFromEnvironment(process.env);
  // A job's checkout has git; a scratch directory or a tarball may not.
  const commit = o.commit ?? facts.commit ?? git(dir, ['rev-parse', 'HEAD']);
  if (!commit) throw new SlipwayError('E_BAD_REQUEST', 'no commit to name: not in GitHub Actions (GITHUB_SHA) or GitLab CI (CI_COMMIT_SHA), and not in a git checkout; pass --commit <sha>');
  const provider = o.provider ?? facts.provider ?? 'other';
  const branch = o.branch ?? facts.branch ?? null;
  const tag = facts.tag && /^v?\d+\.\d+\.\d+/.test(facts.tag) ? facts.tag : undefined;
  const version = o.releaseVersion ?? tag;
  let notes: string | undefined;
  if (o.notesFile) notes = readBounded(o.notesFile, '--notes-file', 64 * 1024);
  else {
    const log = git(dir, ['log', '-n', '20', '--format=- %h %s', commit]);
    if (log) notes = log;
  }
  let testReport: CiReleaseBody['testReport'];
  if (o.testReport) testReport = { text: readBounded(o.testReport, '--test-report', MAX_REPORT_BYTES), ...(o.testFormat ? { format: o.testFormat } : {}) };
  return {
    artefact: digest,
    ci: { provider, commit: commit.toLowerCase(), branch, jobUrl: o.jobUrl ?? facts.jobUrl ?? null, repository: o.repository ?? facts.repository ?? null },
    ...(version ? { version } : {}), ...(notes ? { notes } : {}), ...(testReport ? { testReport } : {}),
  };
}

/** The release's signature by the CI's own key: the server checks it against the keys an admin registered. */
function signRelease(keyFile: string, o: { digest: string; commit: string; service: string }): string {
  let key: KeyObject;
  try {
    key = createPrivateKey(readBounded(keyFile, '--signing-key', 64 * 1024));
  } catch (e) {
    if (e instanceof SlipwayError) throw e;
    throw new SlipwayError('E_BAD_REQUEST', `--signing-key ${keyFile}: not a private key in PEM form`, {}, { cause: e });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new SlipwayError('E_BAD_REQUEST', `--signing-key ${keyFile}: a ${key.asymmetricKeyType ?? 'non-Ed25519'} key; CI keys are Ed25519`);
  return sign(null, Buffer.from(ciSignedStatement(o)), key).toString('base64');
}

/**
 * node --test's JUnit reporter writes tests that are not inside a describe() as
 * <testcase> elements straight under <testsuites>, with no <testsuite> around them.
 * A server older than this CLI counted only the cases inside suites and refused
 * such a report as having no test; the job then needs to know that its tests did
 * run, and what to send. A current server counts them (engine/pipeline/test-report.ts).
 */
function withReportAdvice(e: unknown, report: string | undefined): unknown {
  if (!(e instanceof SlipwayError) || e.code !== 'E_TEST_REPORT_INVALID' || report === undefined) return e;
  const isSuiteless = /<testsuites\b/.test(report) && /<testcase\b/.test(report) && !/<testsuite\b/.test(report);
  if (!isSuiteless) return e;
  return new SlipwayError('E_TEST_REPORT_INVALID',
    `${e.message}; but the report does hold <testcase> elements, straight under <testsuites> (node --test's junit reporter writes tests outside a describe() so), and this server counts only those inside a <testsuite>: send a TAP report instead, from node --test --test-reporter=tap --test-reporter-destination=report.tap, with --test-report report.tap`,
    e.details, { cause: e });
}

const FLAG_OF: Record<string, string> = {
  'ci.commit': '--commit (or GITHUB_SHA / CI_COMMIT_SHA)', 'ci.branch': '--branch', 'ci.jobUrl': '--job-url', 'ci.repository': '--repository',
  version: '--release-version', notes: '--notes-file', 'testReport.text': '--test-report',
};

/** Checked with the API's own schema before anything is packed or sent: a bad flag names itself. */
function checkedBody(body: CiReleaseBody): CiReleaseBody {
  const r = ciReleaseBody.safeParse(body);
  if (r.success) return body;
  const issue = r.error.issues[0]!;
  const field = issue.path.join('.');
  throw new SlipwayError('E_BAD_REQUEST', `${FLAG_OF[field] ?? field}: ${issue.message}`, { field });
}

export function registerCiReleaseCommand(program: Command, ctx: CommandContext): void {
  program
    .command('ci-release')
    .description('from a CI job: upload the artefact it built with its test report and start a release run (staging, acceptance, approval, production); the server does not rebuild')
    .option('-d, --dir <path>', 'the service directory to pack (holding slipway.yaml)', '.')
    .option('--artefact <file.tar.gz>', 'send this tarball (slipway.yaml at its top) instead of packing --dir')
    .option('--test-report <file>', "the CI's test report: JUnit XML or TAP; its counts go into the checklist")
    .option('--test-format <format>', `the report's format (${TEST_REPORT_FORMATS.join(', ')}); default: JUnit if it starts with "<", else TAP`, oneOf(TEST_REPORT_FORMATS, '--test-format'))
    .option('--provider <name>', `the CI (${CI_PROVIDERS.join(', ')}); default: from the job's environment`, oneOf(CI_PROVIDERS, '--provider'))
    .option('--commit <sha>', 'the commit built (default: GITHUB_SHA, CI_COMMIT_SHA, or git HEAD)')
    .option('--branch <name>', 'the branch built (default: GITHUB_REF_NAME on a branch build, CI_COMMIT_BRANCH)')
    .option('--job-url <url>', 'the link to the CI job (default: from GITHUB_SERVER_URL/GITHUB_REPOSITORY/GITHUB_RUN_ID, CI_JOB_URL)')
    .option('--repository <url>', 'the repository (default: GITHUB_SERVER_URL/GITHUB_REPOSITORY, CI_PROJECT_URL)')
    .option('--release-version <v>', 'the version, e.g. 1.4.0 (default: the tag of a tag build, else 0.0.0+<short sha>)')
    .option('--notes-file <file>', 'release notes (default: the last 20 commits when the job has a git checkout)')
    .option('--signing-key <file>', "sign the release with this Ed25519 private key (PEM), whose public key an admin registered (slipway ci-key add); default: $SLIPWAY_CI_SIGNING_KEY_FILE")
    .option('--detach', 'return once the run has started')
    .option('--wait', 'keep following through approval and freeze gates until the run ends')
    .addHelpText('after', [
      '',
      'The token (SLIPWAY_TOKEN) is best a ci token: it may start runs of its services only, never approve or deploy:',
      '  slipway token create --user github-shop --role ci --services shop --expires 90d',
      '',
      'Example (a GitHub Actions step; see examples/ci/):',
      '  slipway ci-release --test-report junit.xml --server https://slipway.example.com',
      '',
    ].join('\n'))
    .action(async (o: CiReleaseOptions, cmd: Command) => {
      const json = ctx.isJson(cmd);
      const say = (s: string) => !json && process.stdout.write(`${s}\n`);
      if (o.provider !== undefined && !isCiProvider(o.provider)) throw new SlipwayError('E_BAD_REQUEST', `--provider must be one of ${CI_PROVIDERS.join(', ')}`);
      const dir = resolve(o.dir);
      const outFile = join(tmpdir(), `slipway-ci-artefact-${process.pid}-${Date.now()}.tar.gz`);
      try {
        let file: string;
        let digest: string;
        let configText: string | null;
        if (o.artefact) {
          file = resolve(o.artefact);
          if (!existsSync(file)) throw new SlipwayError('E_BAD_REQUEST', `--artefact ${o.artefact}: no such file`);
          digest = await sha256File(file);
          configText = await readPackedFile(file, 'slipway.yaml');
          if (configText === null) throw new SlipwayError('E_CONFIG_NOT_FOUND', `${o.artefact} has no slipway.yaml at its top; pack the service's directory`);
        } else {
          const configPath = join(dir, 'slipway.yaml');
          if (!existsSync(configPath)) throw new SlipwayError('E_CONFIG_NOT_FOUND', `${configPath} not found; run ci-release in the service's directory (or pass --dir)`);
          configText = readFileSync(configPath, 'utf8');
        }
        // Checked here, before anything is sent: a bad config fails the job with file:line:col.
        const config = parseConfigText(configText, 'slipway.yaml');
        const body = checkedBody(ciBody(o, dir, `sha256:${'0'.repeat(64)}`));
        if (!o.artefact) {
          const packed = await packDirectory({ dir, outFile });
          ({ file, digest } = packed);
          say(`packed ${packed.fileCount} files (${(packed.bytes / 1024).toFixed(1)} KiB) as ${digest.slice(0, 19)}…`);
        }
        const keyFile = o.signingKey ?? (process.env.SLIPWAY_CI_SIGNING_KEY_FILE || undefined);
        const signature = keyFile ? signRelease(keyFile, { digest: digest!, commit: body.ci.commit, service: config.service }) : undefined;
        const api = ctx.client(cmd);
        await api.uploadCiArtefact(file!, digest!, config.service);
        const started = await api.ciRelease({ ...body, artefact: digest!, ...(signature ? { signature } : {}) }).catch((e: unknown) => {
          throw withReportAdvice(e, body.testReport?.text);
        });
        say(`run #${started.run.id}: ${started.run.service} ${started.run.version} at ${started.run.commit.slice(0, 12)}, from ${describeOrigin(started.run.ci)}`);
        await reportStartedRun(api, started, { detach: o.detach, wait: o.wait, json, say, rerunHint: false });
      } finally {
        rmSync(outFile, { force: true });
      }
    });
}

export function registerCiKeyCommands(program: Command, ctx: CommandContext): void {
  const keys = program.command('ci-key').description("CI signing keys: releases from CI for a key's services must be signed by it (admin)");
  keys
    .command('add <name>')
    .description('register (or replace) an Ed25519 public key for some services')
    .requiredOption('--services <names>', 'the services it signs for (repeat or comma-separate)', (v: string, prev: string[] | undefined) => [...(prev ?? []), ...v.split(',').map((x) => x.trim()).filter(Boolean)])
    .requiredOption('--public-key <file>', 'the public key, PEM (openssl pkey -in ci.key -pubout)')
    .addHelpText('after', '\nExample:\n  openssl genpkey -algorithm ed25519 -out ci.key    # the private key goes into the CI\'s secrets\n  openssl pkey -in ci.key -pubout -out ci.pub\n  slipway ci-key add github-shop --services shop --public-key ci.pub\n')
    .action(async (name: string, o: { services: string[]; publicKey: string }, cmd: Command) => {
      const k = await ctx.client(cmd).putCiKey(name, { services: o.services, publicKey: readBounded(o.publicKey, '--public-key', 4096) });
      ctx.out(cmd, k, () => `CI key ${k.name} (${k.keyId}) signs releases of ${k.services.join(', ')}; unsigned releases from CI of those services are refused now`);
    });
  keys
    .command('list')
    .description('the registered CI keys')
    .action(async (_o, cmd: Command) => {
      const r = await ctx.client(cmd).ciKeys();
      ctx.out(cmd, r, () => (r.keys.length ? r.keys.map((k) => `${k.name.padEnd(16)} ${k.keyId}  ${k.services.join(',')}  added by ${k.createdBy}`).join('\n') : 'no CI keys: releases from CI are not signed'));
    });
  keys
    .command('remove <name>')
    .description('remove a CI key')
    .action(async (name: string, _o, cmd: Command) => {
      const k = await ctx.client(cmd).removeCiKey(name);
      ctx.out(cmd, k, () => `removed CI key ${k.name}`);
    });
}
