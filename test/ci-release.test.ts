// A release from a hosted CI, end to end: the test plays the CI's job from a scratch
// directory that is no git repository, with only the real CLI, a ci token and the
// job's environment variables (GitHub Actions, then GitLab CI). The server has no
// repository either: it takes the uploaded artefact and the CI's test report
// through staging, acceptance, approval (by another user: a ci token may not) and
// production, and the checklist shows the CI's evidence. A ci token may not
// approve, deploy, or release another service, and an expired one is refused.

import { generateKeyPairSync } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { ChecklistJson, RunViewJson } from '../src/cli/api-client.ts';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import { apiFetch, freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';

const SHA1 = '1f'.repeat(20);
const SHA2 = '2e'.repeat(20);
const GITHUB_JOB = 'https://github.com/acme/shop/actions/runs/4242';
const GITLAB_JOB = 'https://gitlab.com/acme/shop/-/jobs/777';

/** A GitHub Actions job's variables (the rest of the runner's environment is not the CI's). */
const github = (sha: string) => ({
  GITHUB_ACTIONS: 'true', GITHUB_SHA: sha, GITHUB_REF: 'refs/heads/main', GITHUB_REF_NAME: 'main', GITHUB_REF_TYPE: 'branch',
  GITHUB_SERVER_URL: 'https://github.com', GITHUB_REPOSITORY: 'acme/shop', GITHUB_RUN_ID: '4242', GITLAB_CI: '', CI_JOB_URL: '',
});
const gitlab = (sha: string) => ({
  GITLAB_CI: 'true', CI_COMMIT_SHA: sha, CI_COMMIT_BRANCH: 'main', CI_JOB_URL: GITLAB_JOB, CI_PROJECT_URL: 'https://gitlab.com/acme/shop',
  GITHUB_ACTIONS: '', GITHUB_SHA: '',
});

const JUNIT = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="shop" time="3.2">
  <testsuite name="api">${Array.from({ length: 11 }, (_, i) => `<testcase classname="api" name="case ${i}" time="0.2"/>`).join('')}
    <testcase classname="api" name="needs a database"><skipped/></testcase>
  </testsuite>
</testsuites>`;

describe('slipway ci-release: a run started by a hosted CI with the artefact and evidence it built', { timeout: 180_000 }, () => {
  let work: string;
  let job: string;
  let reports: string;
  let dataDir: string;
  let server: ServerProcess;
  let stagingPort: number;
  let productionPort: number;
  const timings: Record<string, number> = {};
  const tokens: Record<string, string> = {};

  const makeToken = async (body: Record<string, unknown>) => {
    const res = await apiFetch(`${server.url}/api/tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as Record<string, any> };
  };
  const as = async (token: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.url}${path}`, {
      method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: (await res.json()) as Record<string, any> };
  };
  /** The CI's job: the CLI alone, in a directory with no repository and no data directory, with the token from the CI's secrets. */
  const ciJob = (args: string[], o: { token: string; env: Record<string, string>; cwd?: string }) => runCli(['--server', server.url, ...args], {
    cwd: o.cwd ?? job, dataDir: join(work, 'runner-home', '.slipway'), env: { SLIPWAY_TOKEN: o.token, ...o.env }, timeoutMs: 120_000,
  });
  const run = (id: number) => getJson<RunViewJson>(`${server.url}/api/pipeline/runs/${id}`);
  const runCount = async () => (await getJson<{ runs: unknown[] }>(`${server.url}/api/pipeline/runs?limit=500`)).runs.length;
  const waitForRun = async (id: number, wanted: (v: RunViewJson) => boolean, what: string) => {
    let last: RunViewJson | null = null;
    await waitFor(`run #${id} ${what}`, async () => wanted((last = await run(id))), 90_000).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(last?.run)} ${last?.stages.map((s) => `${s.name}:${s.status}:${s.reason ?? ''}`).join(' | ')}`);
    });
    return last!;
  };
  const runIdOf = (stdout: string) => Number(/run #(\d+)/.exec(stdout)?.[1]);

  beforeAll(async () => {
    work = scratchDir('slipway-ci-release-');
    job = join(work, 'job', 'shop');
    reports = join(work, 'job', 'reports');
    dataDir = join(work, 'server', '.slipway');
    mkdirSync(reports, { recursive: true });
    mkdirSync(join(work, 'server'), { recursive: true });
    [stagingPort, productionPort] = [await freePort(), await freePort()];
    writeService(job, {
      service: 'shop',
      envs: {
        staging: { instances: 1, port: stagingPort, extraYaml: 'acceptance: { command: node acceptance.js }' },
        production: { instances: 1, port: productionPort, extraYaml: ['watch: 1s', 'approval: { count: 1, distinct_from_starter: true }'].join('\n') },
      },
    });
    appendFileSync(join(job, 'slipway.yaml'), 'pipeline: { health_window: 2s, rollback_drill: true }\n');
    writeFileSync(join(reports, 'junit.xml'), JUNIT);
    expect(existsSync(join(job, '.git'))).toBe(false);
    server = await startServerProcess(dataDir);
    // The admin makes the CI's token with the CLI, on the server's machine (its admin.token).
    const made = await runCli(['--json', 'token', 'create', '--user', 'github-shop', '--role', 'ci', '--services', 'shop', '--expires', '1h'], { cwd: work, dataDir });
    expect(made.code, made.stderr).toBe(0);
    const ci = JSON.parse(made.stdout) as { token: string; role: string; envs: string[]; status: string };
    expect(ci).toMatchObject({ role: 'ci', envs: ['shop/*'], status: 'active' });
    tokens.ci = ci.token;
    tokens.bob = (await makeToken({ user: 'bob', role: 'approver', envs: ['production'] })).json.token;
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
    if (Object.keys(timings).length) process.stdout.write(`ci-release timings (ms): ${JSON.stringify(timings)}\n`);
  });

  it('takes a GitHub Actions build through staging and acceptance to approval; the ci token may not approve, another user does', async () => {
    // The browser for the dashboard check below starts while the CI job runs; it is closed when the test ends, however it ends.
    const profile = existsSync('/usr/bin/chromium') ? mkdtempSync(join(tmpdir(), 'slipway-chromium-')) : null;
    const launched = profile ? chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium', headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
    }) : null;
    launched?.catch(() => undefined); // a failed launch fails the test where it is awaited, not as an unhandled rejection
    onTestFinished(async () => {
      await (await launched?.catch(() => null))?.close();
      if (profile) rmSync(profile, { recursive: true, force: true });
    });
    const t0 = Date.now();
    const r = await ciJob(['ci-release', '--test-report', join(reports, 'junit.xml')], { token: tokens.ci!, env: github(SHA1) });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`from GitHub Actions ${GITHUB_JOB}`);
    expect(r.stdout).toMatch(/waits: waiting for 1 more approval\(s\): slipway approve \d+/);
    const id = runIdOf(r.stdout);
    const waiting = await run(id);
    expect(waiting.run).toMatchObject({
      status: 'waiting', stage: 'approval', service: 'shop', commit: SHA1, startedBy: 'github-shop', version: `0.0.0+${SHA1.slice(0, 7)}`,
      ci: { provider: 'github-actions', jobUrl: GITHUB_JOB, branch: 'main', repository: 'https://github.com/acme/shop', testReport: { format: 'junit', tests: 12, pass: 11, fail: 0, skipped: 1 } },
    });
    expect(waiting.stages.find((s) => s.name === 'acceptance')).toMatchObject({ status: 'succeeded' });
    expect(waiting.stages.find((s) => s.name === 'build')!.outputTail).toContain('the server does not rebuild it');

    const self = await ciJob(['approve', String(id)], { token: tokens.ci!, env: {} });
    expect(self.code).toBe(1);
    expect(self.stderr).toMatch(/E_FORBIDDEN.*github-shop \(ci\) may not POST .*approve: needs the "approve" permission, which role ci does not have/);
    expect((await run(id)).approvals).toEqual([]);

    // The dashboard's list of runs waiting for approval links the CI job it came from.
    if (launched) {
      const page = await (await launched).newPage();
      page.setDefaultTimeout(30_000);
      await page.goto(`${server.url}/ui/`);
      await page.getByLabel('API token').fill(tokens.bob!);
      await page.getByRole('button', { name: 'Sign in' }).click();
      const origin = page.getByTestId(`run-origin-${id}`);
      await origin.waitFor();
      expect(await origin.textContent()).toBe('GitHub Actions');
      expect(await origin.locator('a').getAttribute('href')).toBe(GITHUB_JOB);
    } else if (process.env.CI) throw new Error('no /usr/bin/chromium: the dashboard check needs it in CI');

    expect((await as(tokens.bob!, 'POST', `/api/pipeline/runs/${id}/approve`, {})).status).toBe(201);
    const done = await waitForRun(id, (x) => x.run.status === 'succeeded', 'to succeed');
    timings.githubReleaseMs = Date.now() - t0;
    const prod = await getJson<EnvironmentStatus>(`${server.url}/api/environments/shop%2Fproduction`);
    expect(prod.stable?.artefactDigest).toBe(done.run.artefactDigest);
    expect((await getJson<{ version: string }>(`http://127.0.0.1:${productionPort}/`)).version).toBe('1.0.0');
  });

  it('takes a second build, from GitLab CI with a TAP report, to production with all ten checklist items shown with the CI evidence', async () => {
    writeService(job, {
      service: 'shop', version: '2.0.0',
      envs: {
        staging: { instances: 1, port: stagingPort, extraYaml: 'acceptance: { command: node acceptance.js }' },
        production: { instances: 1, port: productionPort, extraYaml: ['watch: 1s', 'approval: { count: 1, distinct_from_starter: true }'].join('\n') },
      },
    });
    appendFileSync(join(job, 'slipway.yaml'), 'pipeline: { health_window: 2s, rollback_drill: true }\n');
    writeFileSync(join(reports, 'results.tap'), 'TAP version 13\nok 1 - answers\nok 2 - refuses bad input\nok 3 - health # SKIP no probe here\n1..3\n');
    writeFileSync(join(reports, 'NOTES.md'), '- shop answers with version 2.0.0\n');
    const t0 = Date.now();
    const r = await ciJob(['ci-release', '--test-report', join(reports, 'results.tap'), '--notes-file', join(reports, 'NOTES.md'), '--release-version', 'v2.0.0', '--detach'], { token: tokens.ci!, env: gitlab(SHA2) });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`from GitLab CI ${GITLAB_JOB}`);
    const id = runIdOf(r.stdout);
    await waitForRun(id, (x) => x.run.status === 'waiting', 'to wait for approval');
    expect((await as(tokens.bob!, 'POST', `/api/pipeline/runs/${id}/approve`, {})).status).toBe(201);
    const done = await waitForRun(id, (x) => x.run.status === 'succeeded', 'to succeed');
    timings.gitlabReleaseWithDrillMs = Date.now() - t0;
    expect(done.run).toMatchObject({ version: '2.0.0', ci: { provider: 'gitlab-ci', jobUrl: GITLAB_JOB } });
    expect((await getJson<{ version: string }>(`http://127.0.0.1:${productionPort}/`)).version).toBe('2.0.0');

    // Read with the ci token: every token may read, and the job can print the checklist.
    // Three reads, side by side (each CLI process takes seconds to start on a loaded machine).
    const [c, runs, show] = await Promise.all([
      ciJob(['--json', 'checklist', String(id)], { token: tokens.ci!, env: {} }),
      ciJob(['runs'], { token: tokens.ci!, env: {} }),
      ciJob(['runs', 'show', String(id)], { token: tokens.ci!, env: {} }),
    ]);
    expect(c.code, c.stdout + c.stderr).toBe(0);
    const list = JSON.parse(c.stdout) as ChecklistJson;
    expect(list.items).toHaveLength(10);
    const byId = Object.fromEntries(list.items.map((i) => [i.id, i]));
    expect(Object.fromEntries(list.items.map((i) => [i.id, i.status]))).toEqual({
      'code-on-main': 'attested', 'tests-passed': 'attested', 'artefact-signed': 'proven', 'staging-deployed': 'proven', 'staging-healthy': 'proven',
      observability: 'proven', 'notes-and-rollback-target': 'proven', approved: 'proven', 'production-watched': 'proven', 'rollback-ready': 'proven',
    });
    expect(byId['code-on-main']!.evidence).toBe(`GitLab CI job ${GITLAB_JOB} says it built commit ${SHA2} from branch main; the server has no repository to check it against`);
    expect(byId['tests-passed']!.evidence).toMatch(new RegExp(`^tests ran in GitLab CI job ${GITLAB_JOB.replace(/[.]/g, '\\.')}: TAP report sha256:[0-9a-f]{12}… says 2/3 passed, 0 failed, 1 skipped`));
    expect(byId['artefact-signed']!.evidence).toMatch(/^built in GitLab CI job .*; sha256:[0-9a-f]{64} checked by the server on upload, version 2\.0\.0, \d+ files, manifest signed by key /);
    expect(byId['notes-and-rollback-target']!.evidence).toMatch(/notes \(sent by GitLab CI job .*\); rollback target production#1/);
    expect(byId['approved']!.evidence).toMatch(/approved by bob .* started by github-shop/);
    expect(String(done.stages.find((s) => s.name === 'production_deploy')!.data.releaseNotes)).toContain('shop answers with version 2.0.0');

    // Where each run came from, in `slipway runs` and `runs show`.
    expect(runs.stdout).toMatch(new RegExp(`#${id} .* github-shop +GitLab CI ${GITLAB_JOB}`));
    expect(runs.stdout).toMatch(new RegExp(`#${id - 1} .* github-shop +GitHub Actions ${GITHUB_JOB}`));
    expect(show.stdout).toContain(`from GitLab CI ${GITLAB_JOB} (test report: 2/3 passed, 0 failed)`);
  });

  it('a ci token may not deploy directly, nor upload or release another service; nothing is recorded', async () => {
    const before = await runCount();
    const staging = await getJson<EnvironmentStatus>(`${server.url}/api/environments/shop%2Fstaging`);
    const direct = await as(tokens.ci!, 'POST', '/api/environments/shop%2Fstaging/deploys', { artefact: staging.stable!.artefactDigest, config: { text: readFileSync(join(job, 'slipway.yaml'), 'utf8') } });
    expect(direct.status).toBe(403);
    expect(direct.json.error).toMatchObject({ code: 'E_FORBIDDEN', details: { permission: 'deploy', role: 'ci' } });

    const blog = join(work, 'job', 'blog');
    writeService(blog, { service: 'blog', envs: { staging: { instances: 1, port: await freePort() }, production: { instances: 1, port: await freePort() } } });
    appendFileSync(join(blog, 'slipway.yaml'), 'pipeline: {}\n');
    const other = await ciJob(['ci-release'], { token: tokens.ci!, env: github(SHA1), cwd: blog });
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/E_FORBIDDEN.*needs the "release" permission for service blog; this token's role applies only in shop\/\*/);
    expect(await runCount()).toBe(before);
    const audit = await getJson<{ entries: { action: string; outcome: string; actor: string }[] }>(`${server.url}/api/audit?actor=github-shop`);
    expect(audit.entries.filter((e) => e.outcome === 'denied').map((e) => e.action)).toEqual(expect.arrayContaining(['release.approve', 'deploy', 'ci.artefact.upload']));
  });

  it('refuses an expired ci token, and ci tokens without services or an expiry are not made', async () => {
    const expiresAt = Date.now() + 1500;
    const short = await makeToken({ user: 'gitlab-shop', role: 'ci', services: ['shop'], expiresAt });
    expect(short.status).toBe(201);
    // The tokens that are not made are asked for while the short one runs out.
    const noServices = await makeToken({ user: 'x', role: 'ci', expiresAt: Date.now() + 60_000 });
    expect(noServices.status).toBe(400);
    expect(noServices.json.error.message).toMatch(/services: a ci token names the services it may release/);
    const forever = await makeToken({ user: 'x', role: 'ci', services: ['shop'] });
    expect(forever.json.error.message).toMatch(/expiresAt: a ci token must expire/);
    const tooLong = await makeToken({ user: 'x', role: 'ci', services: ['shop'], expiresAt: Date.now() + 500 * 86_400_000 });
    expect(tooLong.json.error.message).toMatch(/a ci token lives at most 400 days/);

    await new Promise((r) => setTimeout(r, Math.max(0, expiresAt + 100 - Date.now())));
    const before = await runCount();
    const r = await ciJob(['ci-release'], { token: short.json.token, env: gitlab(SHA1) });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_UNAUTHENTICATED.*the API token has expired/);
    expect(await runCount()).toBe(before);
  });

  it('refuses an unreadable test report before starting a run, and fails a run whose report has failures before staging', async () => {
    const before = await runCount();
    writeFileSync(join(reports, 'broken.xml'), '<testsuites>\n<testsuite name="x">\n</testsuites>\n');
    // Both refused before a run starts, so they may go side by side.
    const [bad, badFlag] = await Promise.all([
      ciJob(['ci-release', '--test-report', join(reports, 'broken.xml')], { token: tokens.ci!, env: github(SHA1) }),
      ciJob(['ci-release', '--commit', 'abc123'], { token: tokens.ci!, env: github(SHA1) }),
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/E_TEST_REPORT_INVALID.*not well-formed XML: .*\(line 3, column \d+\)/);
    expect(badFlag.code).toBe(1);
    expect(badFlag.stderr).toMatch(/E_BAD_REQUEST.*--commit \(or GITHUB_SHA \/ CI_COMMIT_SHA\): a full commit sha/);
    expect(await runCount()).toBe(before);

    const stagingBefore = (await getJson<EnvironmentStatus>(`${server.url}/api/environments/shop%2Fstaging`)).stable;
    writeFileSync(join(reports, 'red.xml'), '<testsuite name="api"><testcase classname="api" name="answers"><failure message="500"/></testcase><testcase name="ok"/></testsuite>');
    const red = await ciJob(['ci-release', '--test-report', join(reports, 'red.xml')], { token: tokens.ci!, env: github(SHA1) });
    expect(red.code).toBe(1);
    const v = await run(runIdOf(red.stdout));
    expect(v.run).toMatchObject({ status: 'failed', stage: 'test', reason: "test: the CI's test report has 1 failing test(s): api › answers" });
    expect((await getJson<EnvironmentStatus>(`${server.url}/api/environments/shop%2Fstaging`)).stable).toEqual(stagingBefore);
  });

  it('with a CI key registered for the service, takes only releases signed by it, and the checklist says which key', async () => {
    const secrets = join(work, 'job-secrets');
    mkdirSync(secrets, { recursive: true });
    const pair = () => generateKeyPairSync('ed25519');
    const ours = pair();
    writeFileSync(join(secrets, 'ci.key'), ours.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(secrets, 'ci.pub'), ours.publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(join(secrets, 'other.key'), pair().privateKey.export({ type: 'pkcs8', format: 'pem' }));
    // The admin, on the server's machine (its admin.token), registers the public key.
    const added = await runCli(['ci-key', 'add', 'github-shop', '--services', 'shop', '--public-key', join(secrets, 'ci.pub')], { cwd: work, dataDir });
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toMatch(/CI key github-shop \([0-9a-f]{16}\) signs releases of shop/);

    const before = await runCount();
    const unsigned = await ciJob(['ci-release'], { token: tokens.ci!, env: github(SHA2) });
    expect(unsigned.code).toBe(1);
    expect(unsigned.stderr).toMatch(/E_ARTEFACT_TAMPERED.*service shop takes releases from CI signed by a registered key \(github-shop\); this one is not signed/);
    const forged = await ciJob(['ci-release', '--signing-key', join(secrets, 'other.key')], { token: tokens.ci!, env: github(SHA2) });
    expect(forged.code).toBe(1);
    expect(forged.stderr).toMatch(/E_ARTEFACT_TAMPERED.*not made by a CI key registered for shop/);
    expect(await runCount()).toBe(before);

    const signed = await ciJob(['ci-release', '--detach'], { token: tokens.ci!, env: { ...github(SHA2), SLIPWAY_CI_SIGNING_KEY_FILE: join(secrets, 'ci.key') } });
    expect(signed.code, signed.stdout + signed.stderr).toBe(0);
    const id = runIdOf(signed.stdout);
    const v = await waitForRun(id, (x) => x.stages.find((st) => st.name === 'package')?.status === 'succeeded', 'to pass package');
    expect(v.run.ci?.signedBy).toMatchObject({ key: 'github-shop', keyId: expect.stringMatching(/^[0-9a-f]{16}$/) });
    const c = await getJson<ChecklistJson>(`${server.url}/api/checklists/${id}`);
    expect(c.items.find((i) => i.id === 'artefact-signed')!.evidence).toMatch(/checked by the server on upload, signed in CI by registered key github-shop \([0-9a-f]{16}, verified\)/);
    expect((await runCli(['ci-key', 'remove', 'github-shop'], { cwd: work, dataDir })).code).toBe(0);
  });
});
