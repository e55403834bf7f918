// The overview's "Waiting for approval" list, in a real browser (Debian's Chromium
// through playwright-core) against a real server: a run whose production needs two
// approvers. Its Approve button answers as the server would for each user, from the
// approvals the runs list carries: refused, with the server's reason, to one who has
// approved already; offered to one who has not.

import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunsJson, RunViewJson } from '../src/api/views.ts';
import { CHROMIUM, approverTokens, signedInPage } from './support/dashboard-page.ts';
import { apiFetch, freePort, getJson, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';


describe.skipIf(!existsSync(CHROMIUM) && !process.env.CI)('dashboard overview: Approve for a run that needs two approvers', { timeout: 120_000 }, () => {
  let dataDir: string;
  let server: ServerProcess;
  let browser: BrowserContext;
  let profile: string;
  let runId: number;
  const tokenOf = approverTokens(() => server.url);
  const openOverviewAs = async (user: string): Promise<Page> => signedInPage(browser, { url: server.url, token: await tokenOf(user), path: '#/' });

  beforeAll(async () => {
    const work = scratchDir('slipway-dashboard-overview-approvals-');
    const repo = join(work, 'hello');
    dataDir = join(work, '.slipway');
    writeService(repo, {
      envs: {
        staging: { instances: 1, port: await freePort() },
        production: { instances: 1, port: await freePort(), extraYaml: 'approval: { count: 2, distinct_from_starter: true }' },
      },
    });
    appendFileSync(join(repo, 'slipway.yaml'), 'build: { command: node --check server.js }\ntest: { command: node --test }\npipeline: { health_window: 1s }\n');
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
    await waitFor(`run #${runId} to wait for approval`, async () => (await getJson<RunViewJson>(`${server.url}/api/pipeline/runs/${runId}`)).run.status === 'waiting', 90_000);
  }, 150_000);

  afterAll(async () => {
    await browser?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('refuses Approve on the overview, with the server\'s reason, to a user who approved already, and offers it to another', async () => {
    // bob approves from the overview; the run still waits for a second approver.
    const bobs = await openOverviewAs('bob');
    const row = bobs.getByTestId(`run-${runId}`);
    await row.waitFor();
    expect(await row.getByTestId(`approve-${runId}`).isEnabled()).toBe(true);
    await row.getByTestId(`approve-${runId}`).click();
    await bobs.getByRole('button', { name: 'Approve for production' }).click();
    await bobs.getByTestId('approval-message').filter({ hasText: `run #${runId} approved` }).waitFor();

    // After a reload the overview knows bob approved (from the runs list alone) and says why he may not again.
    await bobs.reload();
    const reloaded = bobs.getByTestId(`run-${runId}`);
    await reloaded.waitFor();
    const reason = `bob has already approved run #${runId}; approvals must come from 2 different users`;
    await reloaded.getByTestId(`approval-refusal-${runId}`).filter({ hasText: reason }).waitFor();
    expect(await reloaded.getByTestId(`approve-${runId}`).isDisabled()).toBe(true);
    expect(await reloaded.getByTestId(`approve-${runId}`).getAttribute('title')).toBe(reason);
    // Reject is still his to give: an earlier approval does not bar it.
    expect(await reloaded.getByTestId(`reject-${runId}`).isEnabled()).toBe(true);

    // The page's reason is the server's, word for word.
    const again = await apiFetch(`${server.url}/api/pipeline/runs/${runId}/approve`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenOf('bob')}` }, body: '{}',
    });
    expect(again.status).toBe(403);
    expect(((await again.json()) as { error: { message: string } }).error.message).toBe(reason);

    // carol has not approved: hers is offered, with no refusal beside it.
    const carols = await openOverviewAs('carol');
    const hers = carols.getByTestId(`run-${runId}`);
    await hers.waitFor();
    expect(await hers.getByTestId(`approve-${runId}`).isEnabled()).toBe(true);
    expect(await hers.getByTestId(`approval-refusal-${runId}`).count()).toBe(0);
  });

  it('lists each run with its approvals, as the run\'s own answer has them', async () => {
    const list = await getJson<RunsJson>(`${server.url}/api/pipeline/runs`);
    const own = await getJson<RunViewJson>(`${server.url}/api/pipeline/runs/${runId}`);
    const listed = list.runs.find((r) => r.id === runId);
    expect(listed?.approvals).toEqual(own.approvals);
    expect(listed?.approvals.map((a) => [a.actor, a.decision])).toEqual([['bob', 'approve']]);
  });
});
