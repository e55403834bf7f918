// Where a pipeline run came from when a hosted CI built and tested the artefact
// (GitHub Actions, GitLab CI, any other): the CI's own account of the build. The
// server records it as the CI's claim: it has no repository to check a commit or a
// branch against, only the artefact's bytes (their digest) and the token that
// started the run.

export const CI_PROVIDERS = ['github-actions', 'gitlab-ci', 'other'] as const;
export type CiProvider = (typeof CI_PROVIDERS)[number];

export function isCiProvider(v: unknown): v is CiProvider {
  return typeof v === 'string' && (CI_PROVIDERS as readonly string[]).includes(v);
}

const LABEL: Record<CiProvider, string> = { 'github-actions': 'GitHub Actions', 'gitlab-ci': 'GitLab CI', other: 'CI' };

export function ciProviderLabel(p: CiProvider): string {
  return LABEL[p];
}

export const TEST_REPORT_FORMATS = ['junit', 'tap'] as const;
export type TestReportFormat = (typeof TEST_REPORT_FORMATS)[number];

/** Counts the server read from the CI's test report. */
export interface TestReportSummary {
  format: TestReportFormat;
  tests: number;
  pass: number;
  fail: number;
  skipped: number;
  /** The report's own total time, when it gives one. */
  durationMs: number | null;
  /** Names of the first failing tests (at most 10). */
  failures: string[];
  /** 'sha256:<hex>' of the report as received: what the counts were read from. */
  digest: string;
}

export interface CiOrigin {
  provider: CiProvider;
  /** The job that built and tested the artefact (a link on every page that shows the run). */
  jobUrl: string | null;
  /** The repository as the CI names it (https://github.com/acme/shop). */
  repository: string | null;
  /** The commit the CI says it built. */
  commit: string;
  /** The branch the CI says it built (null: a tag or detached build). */
  branch: string | null;
  /** Release notes the CI sent (its git log, or a file); null: none. */
  notes: string | null;
  testReport: TestReportSummary | null;
  /** The CI key an admin registered that signed this release (verified by the server); null: not signed. */
  signedBy?: { key: string; keyId: string } | null;
}

/**
 * What a CI signs with its key for `slipway ci-release`: the artefact's digest, the
 * commit and the service, so a signature cannot be moved to other bytes, another
 * commit's claim or another service.
 */
export function ciSignedStatement(o: { digest: string; commit: string; service: string }): string {
  return `slipway-ci-release/v1\ndigest ${o.digest}\ncommit ${o.commit}\nservice ${o.service}\n`;
}

/** What the CLI finds in a CI job's environment; flags override each field. */
export interface CiEnvironmentFacts {
  provider: CiProvider | null;
  commit: string | null;
  branch: string | null;
  jobUrl: string | null;
  repository: string | null;
  /** The tag a tag build is for (v1.2.3): the release's version when it is one. */
  tag: string | null;
}

type Env = Record<string, string | undefined>;

const value = (env: Env, name: string): string | null => {
  const v = env[name]?.trim();
  return v ? v : null;
};

/**
 * Reads a CI job's environment: GitHub Actions (GITHUB_ACTIONS, GITHUB_SHA,
 * GITHUB_REF_NAME, GITHUB_SERVER_URL + GITHUB_REPOSITORY + GITHUB_RUN_ID) or GitLab
 * CI (GITLAB_CI, CI_COMMIT_SHA, CI_COMMIT_BRANCH, CI_JOB_URL, CI_PROJECT_URL).
 * Anything else yields nulls, for flags to fill.
 */
export function ciFactsFromEnvironment(env: Env): CiEnvironmentFacts {
  if (value(env, 'GITHUB_ACTIONS') === 'true' || value(env, 'GITHUB_SHA')) {
    const server = value(env, 'GITHUB_SERVER_URL') ?? 'https://github.com';
    const repo = value(env, 'GITHUB_REPOSITORY');
    const runId = value(env, 'GITHUB_RUN_ID');
    // A branch build's ref is refs/heads/<name>; a tag's GITHUB_REF_NAME is the tag, not a branch.
    const isBranch = value(env, 'GITHUB_REF_TYPE') ? value(env, 'GITHUB_REF_TYPE') === 'branch' : !value(env, 'GITHUB_REF')?.startsWith('refs/tags/');
    return {
      provider: 'github-actions',
      commit: value(env, 'GITHUB_SHA'),
      branch: isBranch ? value(env, 'GITHUB_REF_NAME') : null,
      repository: repo ? `${server}/${repo}` : null,
      jobUrl: repo && runId ? `${server}/${repo}/actions/runs/${runId}` : null,
      tag: isBranch ? null : value(env, 'GITHUB_REF_NAME'),
    };
  }
  if (value(env, 'GITLAB_CI') === 'true' || value(env, 'CI_JOB_URL')) {
    return {
      provider: 'gitlab-ci',
      commit: value(env, 'CI_COMMIT_SHA'),
      // Empty for merge-request and tag pipelines: those are not a branch's build.
      branch: value(env, 'CI_COMMIT_BRANCH'),
      repository: value(env, 'CI_PROJECT_URL'),
      jobUrl: value(env, 'CI_JOB_URL'),
      tag: value(env, 'CI_COMMIT_TAG'),
    };
  }
  return { provider: null, commit: null, branch: null, jobUrl: null, repository: null, tag: null };
}

/** One line for lists: "GitHub Actions https://…/runs/42". */
export function describeOrigin(ci: Pick<CiOrigin, 'provider' | 'jobUrl'> | null): string {
  if (!ci) return 'server build';
  return ci.jobUrl ? `${ciProviderLabel(ci.provider)} ${ci.jobUrl}` : ciProviderLabel(ci.provider);
}
