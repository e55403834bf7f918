import { describe, expect, it } from 'vitest';
import { ciFactsFromEnvironment, describeOrigin } from './ci-origin.ts';

describe("reading a CI job's environment", () => {
  it('reads GitHub Actions: sha, branch, repository and the run link', () => {
    expect(ciFactsFromEnvironment({
      GITHUB_ACTIONS: 'true', GITHUB_SHA: 'a'.repeat(40), GITHUB_REF: 'refs/heads/main', GITHUB_REF_NAME: 'main', GITHUB_REF_TYPE: 'branch',
      GITHUB_SERVER_URL: 'https://github.com', GITHUB_REPOSITORY: 'acme/shop', GITHUB_RUN_ID: '42',
    })).toEqual({
      provider: 'github-actions', commit: 'a'.repeat(40), branch: 'main', repository: 'https://github.com/acme/shop',
      jobUrl: 'https://github.com/acme/shop/actions/runs/42', tag: null,
    });
  });

  it('a GitHub tag build has a tag and no branch', () => {
    expect(ciFactsFromEnvironment({ GITHUB_ACTIONS: 'true', GITHUB_SHA: 'b'.repeat(40), GITHUB_REF: 'refs/tags/v1.2.0', GITHUB_REF_NAME: 'v1.2.0' })).toMatchObject({ branch: null, tag: 'v1.2.0' });
  });

  it('reads GitLab CI; a merge-request pipeline has no CI_COMMIT_BRANCH', () => {
    const env = { GITLAB_CI: 'true', CI_COMMIT_SHA: 'c'.repeat(40), CI_COMMIT_BRANCH: 'main', CI_JOB_URL: 'https://gitlab.com/acme/shop/-/jobs/7', CI_PROJECT_URL: 'https://gitlab.com/acme/shop' };
    expect(ciFactsFromEnvironment(env)).toEqual({ provider: 'gitlab-ci', commit: 'c'.repeat(40), branch: 'main', jobUrl: 'https://gitlab.com/acme/shop/-/jobs/7', repository: 'https://gitlab.com/acme/shop', tag: null });
    expect(ciFactsFromEnvironment({ ...env, CI_COMMIT_BRANCH: '' }).branch).toBeNull();
  });

  it('finds nothing elsewhere, for flags to fill', () => {
    expect(ciFactsFromEnvironment({ HOME: '/root' })).toEqual({ provider: null, commit: null, branch: null, jobUrl: null, repository: null, tag: null });
  });

  it('describes where a run came from in one line', () => {
    expect(describeOrigin(null)).toBe('server build');
    expect(describeOrigin({ provider: 'gitlab-ci', jobUrl: 'https://gitlab.com/j/1' })).toBe('GitLab CI https://gitlab.com/j/1');
  });
});
