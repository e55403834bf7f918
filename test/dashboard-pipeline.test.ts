// The dashboard's view of a release pipeline run, in a real browser (Debian's Chromium
// through playwright-core) against a real server that builds a real git repository of
// the example service, deploys it to staging and stops at production's sign-off.
// Screenshots go to test-output/dashboard/ (not committed).

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunViewJson } from '../src/cli/api-client.ts';
import { REPO, apiFetch, freePort, getJson, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(REPO, 'test-output', 'dashboard');

describe.skipIf(!existsSync(CHROMIUM) && !process.env.CI)('dashboard: a pipeline run with its stages and checklist', { timeout: 120_000 }, () => {
  let work: string;
  let repo: string;
  let dataDir: string;
  let server: ServerProcess;
  let browser: BrowserContext;
  let profile: string;
  let runId: number;
  /** A run of another service whose policy lets the starter sign off but asks for the admin role. */
  let soloRunId: number;
  const tokens = new Map<string, string>();

  const tokenOf = async (user: string): Promise<string> => {
    if (!tokens.has(user)) {
      const grant = user === 'bob' ? { role: 'approver', envs: ['production'] } : { role: 'admin' };
      const res = await apiFetch(`${server.url}/api/tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, ...grant }) });
      if (res.status !== 201) throw new Error(`token for ${user}: HTTP ${res.status} ${await res.text()}`);
      tokens.set(user, ((await res.json()) as { token: string }).token);
    }
    return tokens.get(user)!;
  };
  const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-c', 'user.name=Alice', '-c', 'user.email=alice@example.test', ...args], { cwd, encoding: 'utf8' }).trim();

  /** A git repository of the example service with a pipeline, its production approval as given. */
  async function makeRepo(dir: string, service: string, approval: string): Promise<void> {
    writeService(dir, {
      service,
      envs: {
        staging: { instances: 1, port: await freePort() },
        production: { instances: 1, port: await freePort(), extraYaml: `approval: ${approval}` },
      },
    });
    appendFileSync(join(dir, 'slipway.yaml'), 'build: { command: node --check server.js }\ntest: { command: node --test }\npipeline: { health_window: 1s }\n');
    execFileSync('git', ['init', '-q', '-b', 'main', dir]);
    git(dir, 'add', '-A');
    git(dir, 'commit', '-q', '-m', `${service}: first release`);
  }

  /** Alice (admin) starts a run of the repository; its id. */
  async function release(dir: string): Promise<number> {
    const res = await apiFetch(`${server.url}/api/pipeline/runs`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenOf('alice')}` }, body: JSON.stringify({ repo: dir, ref: 'HEAD' }) });
    expect(res.status).toBe(202);
    return ((await res.json()) as RunViewJson).run.id;
  }

  async function openAs(user: string, hash: string, width = 1400): Promise<Page> {
    const page = await browser.newPage();
    page.setDefaultTimeout(30_000);
    await page.setViewportSize({ width, height: 1000 });
    await page.goto(`${server.url}/ui/${hash}`);
    await page.getByLabel('API token').fill(await tokenOf(user));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('who').waitFor();
    return page;
  }

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    work = scratchDir('slipway-dashboard-pipeline-');
    repo = join(work, 'hello');
    const solo = join(work, 'solo');
    dataDir = join(work, '.slipway');
    await makeRepo(repo, 'hello', '{ count: 1, distinct_from_starter: true }');
    await makeRepo(solo, 'solo', '{ count: 1, distinct_from_starter: false, roles: [admin] }');
    server = await startServerProcess(dataDir);
    profile = mkdtempSync(join(tmpdir(), 'slipway-chromium-'));
    const launched = chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, viewport: { width: 1400, height: 1000 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
    });
    runId = await release(repo);
    soloRunId = await release(solo);
    browser = await launched;
    for (const id of [runId, soloRunId]) {
      await waitFor(`run #${id} to wait for approval`, async () => (await getJson<RunViewJson>(`${server.url}/api/pipeline/runs/${id}`)).run.status === 'waiting', 90_000);
    }
  }, 150_000);

  afterAll(async () => {
    await browser?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('shows the run\'s stages and checklist, and to its starter Approve and Reject disabled by four eyes', async () => {
    const page = await openAs('alice', `#/runs/${runId}`);
    const stages = page.getByTestId('stages');
    await expect.poll(() => stages.locator('[data-stage="approval"]').getAttribute('class'), { timeout: 10_000 }).toContain('step-current');
    expect(await stages.locator('[data-stage="build"]').getAttribute('class')).toContain('step-done');
    expect(await stages.locator('[data-stage="staging_deploy"]').getAttribute('class')).toContain('step-done');
    const checklist = page.getByTestId('checklist');
    expect(await checklist.locator('[data-item="tests-passed"]').getAttribute('class')).toContain('item-proven');
    expect(await checklist.locator('[data-item="approved"]').getAttribute('class')).toContain('item-missing');
    expect(await checklist.locator('[data-item="tests-passed"]').textContent()).toMatch(/tests/);
    // alice started it: four eyes (the default) refuses her approval and her rejection alike.
    expect(await page.getByTestId(`approve-${runId}`).isDisabled()).toBe(true);
    expect(await page.getByTestId(`reject-${runId}`).isDisabled()).toBe(true);
    expect(await page.getByTestId(`approval-refusal-${runId}`).textContent()).toBe(`four eyes: alice started run #${runId} and may not approve it; another user must approve`);
    await page.screenshot({ path: join(SHOTS, '12-pipeline-run.png'), fullPage: true });

    // bob may approve, from the run's page; the checklist then shows it proven without a reload (event stream).
    const bobs = await openAs('bob', `#/runs/${runId}`);
    await bobs.getByTestId(`approve-${runId}`).click();
    await bobs.getByRole('button', { name: 'Approve for production' }).click();
    await bobs.getByTestId('approval-message').filter({ hasText: `run #${runId} approved` }).waitFor();
    await expect.poll(() => page.getByTestId('checklist').locator('[data-item="approved"]').getAttribute('class'), { timeout: 10_000 }).toContain('item-proven');
    await page.screenshot({ path: join(SHOTS, '13-pipeline-run-approved.png'), fullPage: true });
  });

  it('follows the policy\'s own rule: a starter it allows may sign off, a role it does not name may not', async () => {
    // solo's policy: distinct_from_starter false, roles [admin]. bob is an approver.
    const bobs = await openAs('bob', `#/runs/${soloRunId}`);
    const reason = `approving run #${soloRunId} needs one of the roles admin; bob has approver`;
    await bobs.getByTestId(`approval-refusal-${soloRunId}`).filter({ hasText: reason }).waitFor();
    expect(await bobs.getByTestId(`approve-${soloRunId}`).isDisabled()).toBe(true);
    expect(await bobs.getByTestId(`reject-${soloRunId}`).isDisabled()).toBe(true);
    // The page's reasons are the server's answers, word for word: Reject's in its title.
    expect(await bobs.getByTestId(`reject-${soloRunId}`).getAttribute('title')).toBe(reason.replace('approving', 'rejecting'));
    for (const action of ['approve', 'reject']) {
      const res = await apiFetch(`${server.url}/api/pipeline/runs/${soloRunId}/${action}`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenOf('bob')}` }, body: JSON.stringify(action === 'reject' ? { reason: 'no' } : {}),
      });
      expect(res.status).toBe(403);
      const said = action === 'approve' ? reason : reason.replace('approving', 'rejecting');
      expect(((await res.json()) as { error: { code: string; message: string } }).error).toEqual({ code: 'E_APPROVAL_REFUSED', message: said, details: expect.anything() });
    }
    await bobs.screenshot({ path: join(SHOTS, '15-pipeline-run-role-refused.png'), fullPage: true });

    // alice started solo's run and holds admin: both buttons are hers, on the overview too, and Approve works.
    const page = await openAs('alice', '#/');
    const row = page.getByTestId(`run-${soloRunId}`);
    await row.waitFor();
    expect(await row.getByTestId(`approve-${soloRunId}`).isEnabled()).toBe(true);
    expect(await row.getByTestId(`reject-${soloRunId}`).isEnabled()).toBe(true);
    expect(await row.getByTestId(`approval-refusal-${soloRunId}`).count()).toBe(0);
    await page.screenshot({ path: join(SHOTS, '16-pending-approvals-self-approval.png'), fullPage: true });
    await row.getByTestId(`approve-${soloRunId}`).click();
    await page.getByRole('button', { name: 'Approve for production' }).click();
    await page.getByTestId('approval-message').filter({ hasText: `run #${soloRunId} approved` }).waitFor();
  });

  it('lays the run out at 420 px wide without sideways scrolling', async () => {
    const page = await openAs('bob', `#/runs/${runId}`, 420);
    await page.getByTestId('checklist').waitFor();
    const { scrollWidth, clientWidth } = await page.evaluate<{ scrollWidth: number; clientWidth: number }>('({ scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth })');
    expect(scrollWidth).toBeLessThanOrEqual(clientWidth);
    await page.screenshot({ path: join(SHOTS, '14-pipeline-run-420px.png'), fullPage: true });
  });
});
