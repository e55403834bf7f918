// The overview's "Waiting for approval" list after an approval that is not the last one
// a run needs, in a real browser (Debian's Chromium through playwright-core) against a
// real server: the run's row stays, at no moment gone, and says the approval is
// recorded and how many more are needed. Before, the page dropped the row on any
// approval and the next refresh brought it back.

import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunViewJson } from '../src/api/views.ts';
import { CHROMIUM, approverTokens, signedInPage } from './support/dashboard-page.ts';
import { REPO, apiFetch, freePort, getJson, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';


describe.skipIf(!existsSync(CHROMIUM) && !process.env.CI)('dashboard overview: a run that still needs a second approver', { timeout: 180_000 }, () => {
  let dataDir: string;
  let server: ServerProcess;
  let browser: BrowserContext;
  let profile: string;
  let runId: number;
  const tokenOf = approverTokens(() => server.url);
  const openOverviewAs = async (user: string): Promise<Page> => signedInPage(browser, { url: server.url, token: await tokenOf(user), path: '#/' });

  /** From now on, whether the run's row was ever missing from the page, if only between two frames. */
  async function watchRowPresence(page: Page): Promise<() => Promise<boolean>> {
    const row = JSON.stringify(`[data-testid="run-${runId}"]`);
    await page.evaluate(`window.rowWasGone = false;
      new MutationObserver(() => { if (!document.querySelector(${row})) window.rowWasGone = true; })
        .observe(document.body, { childList: true, subtree: true });`);
    return async () => (await page.evaluate('window.rowWasGone')) === true;
  }

  beforeAll(async () => {
    const work = scratchDir('slipway-dashboard-partial-approval-');
    const repo = join(work, 'hello');
    dataDir = join(work, '.slipway');
    writeService(repo, {
      envs: {
        staging: { instances: 1, port: await freePort() },
        production: { instances: 1, port: await freePort(), extraYaml: 'approval: { count: 2, distinct_from_starter: true }' },
      },
    });
    appendFileSync(join(repo, 'slipway.yaml'), 'build: { command: node --check server.js }\ntest: { command: node --test }\npipeline: { health_window: 1s, rollback_drill: false }\n');
    execFileSync('git', ['init', '-q', '-b', 'main', repo]);
    execFileSync('git', ['-c', 'user.name=Alice', '-c', 'user.email=alice@example.test', 'add', '-A'], { cwd: repo });
    execFileSync('git', ['-c', 'user.name=Alice', '-c', 'user.email=alice@example.test', 'commit', '-q', '-m', 'first release'], { cwd: repo });
    server = await startServerProcess(dataDir);
    profile = mkdtempSync(join(tmpdir(), 'slipway-chromium-'));
    const launched = chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, viewport: { width: 1400, height: 1000 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
    });
    const res = await apiFetch(`${server.url}/api/pipeline/runs`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenOf('alice')}` }, body: JSON.stringify({ repo, ref: 'HEAD' }) });
    expect(res.status).toBe(202);
    runId = ((await res.json()) as RunViewJson).run.id;
    browser = await launched;
    await waitFor(`run #${runId} to wait for approval`, async () => {
      const { run } = (await getJson<RunViewJson>(`${server.url}/api/pipeline/runs/${runId}`));
      if (run.status === 'failed') throw new Error(`run #${runId} failed at ${run.stage}: ${run.reason}`);
      return run.status === 'waiting' && run.stage === 'approval';
    }, 120_000);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('keeps the row after the first of two approvals, saying it is recorded and that one more is needed', async () => {
    const bobs = await openOverviewAs('bob');
    const row = bobs.getByTestId(`run-${runId}`);
    await row.waitFor();
    const wasGone = await watchRowPresence(bobs);

    await row.getByTestId(`approve-${runId}`).click();
    await bobs.getByRole('button', { name: 'Approve for production' }).click();
    await bobs.getByTestId('approval-message').filter({ hasText: `run #${runId} approved` }).waitFor();
    // Long enough for a refresh that would bring a dropped row back (the list follows the event stream).
    await bobs.waitForTimeout(2_500);
    expect(await wasGone(), 'the row left the page after the approval').toBe(false);
    expect(await bobs.getByTestId('approval-message').textContent()).toBe(`run #${runId} approved by bob; waiting for 1 more approval(s)`);

    // The row says what the server recorded, without a reload: bob's approval, one more to come, and bob may not approve again.
    await row.getByTestId(`run-approvals-${runId}`).filter({ hasText: '1 of 2 (bob); waiting for 1 more approval(s)' }).waitFor();
    const reason = `bob has already approved run #${runId}; approvals must come from 2 different users`;
    expect(await row.getByTestId(`approve-${runId}`).isDisabled()).toBe(true);
    expect(await row.getByTestId(`approval-refusal-${runId}`).textContent()).toContain(reason);
    expect(await row.getByTestId(`reject-${runId}`).isEnabled()).toBe(true);
    const shots = join(REPO, 'test-output', 'dashboard');
    mkdirSync(shots, { recursive: true });
    await bobs.screenshot({ path: join(shots, 'overview-partial-approval.png'), fullPage: true });

    // The server agrees: the run still waits at approval, with bob's approval.
    const { run, approvals } = await getJson<RunViewJson>(`${server.url}/api/pipeline/runs/${runId}`);
    expect([run.status, run.stage]).toEqual(['waiting', 'approval']);
    expect(approvals.map((a) => [a.actor, a.decision])).toEqual([['bob', 'approve']]);

    // After a reload the row reads the same from the server's list alone.
    await bobs.reload();
    await bobs.getByTestId(`run-approvals-${runId}`).filter({ hasText: '1 of 2 (bob); waiting for 1 more approval(s)' }).waitFor();
    await bobs.close();
  });

  it('lets the row go once the second approval sends the run on to production', async () => {
    const carols = await openOverviewAs('carol');
    const row = carols.getByTestId(`run-${runId}`);
    await row.waitFor();
    await row.getByTestId(`approve-${runId}`).click();
    await carols.getByRole('button', { name: 'Approve for production' }).click();
    await carols.getByTestId('approval-message').filter({ hasText: `run #${runId} approved by carol; it goes on to production` }).waitFor();
    await waitFor('the run to leave approval', async () => (await getJson<RunViewJson>(`${server.url}/api/pipeline/runs/${runId}`)).run.stage !== 'approval', 60_000);
    await row.waitFor({ state: 'detached', timeout: 60_000 });
    await carols.close();
  });
});
