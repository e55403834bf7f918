// The dashboard in a real browser (Debian's Chromium driven by playwright-core)
// against a real slipway server, router and example-service instances under real
// load. Each test asserts on what the page shows and saves a screenshot under
// test-output/dashboard/.

import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTraffic, type Traffic } from '../src/cli/traffic.ts';
import {
  REPO, adminToken, apiFetch, freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService,
  type ServerProcess, type ServiceOptions,
} from './support/harness.ts';
import type { EnvironmentStatus } from '../src/api/views.ts';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(REPO, 'test-output', 'dashboard');
const hasChromium = existsSync(CHROMIUM);

describe.skipIf(!hasChromium && !process.env.CI)('dashboard in a real browser', () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let token: string;
  let port: number;
  let service: ServiceOptions;
  let browser: BrowserContext;
  let profile: string;
  let traffic: Traffic;
  // Uncaught exceptions in the page fail the test that caused them.
  let pageErrors: string[] = [];
  let consoleErrors: string[] = [];
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir });
  const status = () => getJson<EnvironmentStatus>(`${server.url}/api/environments/production`);
  const canary = 'type: canary\nsteps:\n  - weight: 25\n  - pause: {}\n  - weight: 50\n  - pause: {}';

  async function deploy(version: string, strategyYaml: string, ...flags: string[]): Promise<void> {
    writeService(app, { ...service, version, envs: { production: { ...service.envs.production!, strategyYaml } } });
    const r = await cli('deploy', 'production', ...flags);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  }

  async function openPage(hash = ''): Promise<Page> {
    const page = await browser.newPage();
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
    await page.goto(`${server.url}/ui/${hash}`);
    return page;
  }

  async function signIn(page: Page, secret = token): Promise<void> {
    await page.getByLabel('API token').fill(secret);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('who').waitFor();
  }

  const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    port = await freePort();
    service = { version: '1.0.0', envs: { production: { instances: 2, port, config: { LOG_EVERY_REQUEST: '1' }, strategyYaml: 'type: rolling\nbatch: 2\nmax_unavailable: 0' } } };
    writeService(app, service);
    server = await startServerProcess(dataDir);
    token = adminToken(dataDir)!;
    await deploy('1.0.0', 'type: rolling\nbatch: 2\nmax_unavailable: 0');
    await deploy('2.0.0', 'type: rolling\nbatch: 2\nmax_unavailable: 0');
    // Steady, bounded load for the whole file: the charts and figures need requests.
    traffic = startTraffic({ url: `http://127.0.0.1:${port}/`, concurrency: 2, pauseMs: 25, maxDurationMs: 170_000 });
    profile = mkdtempSync(join(tmpdir(), 'slipway-chromium-'));
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, viewport: { width: 1400, height: 1000 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
    });
  }, 120_000);

  afterAll(async () => {
    await traffic?.stop();
    await browser?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  beforeEach(() => {
    pageErrors = [];
    consoleErrors = [];
  });

  afterEach(() => {
    expect(pageErrors, `console: ${consoleErrors.join('\n')}`).toEqual([]);
  });

  it('refuses a wrong token on the sign-in page and keeps nothing', async () => {
    const page = await openPage();
    await signInAttempt(page, `slw_0123456789abcdef_${'A'.repeat(43)}`);
    await expect.poll(() => page.getByTestId('signin-error').textContent()).toContain('This token was refused: the API token is not valid');
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    expect(page.url()).not.toContain('slw_');
    await shot(page, '01-wrong-token');
    await page.close();
  });

  it('shows every environment with its stable release, traffic split and live figures', async () => {
    // `slipway dashboard` says where the page is.
    const d = await cli('--json', 'dashboard');
    expect(d.code, d.stderr).toBe(0);
    const { url } = JSON.parse(d.stdout) as { url: string };
    expect(url).toBe(`${server.url}/ui/`);
    const page = await openPage();
    await signIn(page);
    expect(page.url()).not.toContain(token);
    expect(await page.evaluate('sessionStorage.getItem("slipway.token")')).toBe(token);
    await expect.poll(() => page.getByTestId('role').textContent()).toBe('admin');
    const card = page.getByTestId('env-production');
    await expect.poll(() => card.getByTestId('stable').textContent()).toContain('#2');
    await expect.poll(() => card.getByTestId('release-row-2').getByTestId('weight').textContent()).toBe('100%');
    // Requests per second of the stable release, from the live figures.
    await expect.poll(async () => Number(await card.getByTestId('release-row-2').getByTestId('rps').textContent()), { timeout: 20_000 }).toBeGreaterThan(5);
    await expect.poll(() => card.getByTestId('release-row-2').textContent()).toContain('2/2 healthy');
    await shot(page, '02-overview');
    await page.close();
  });

  it('follows a canary live: timeline, moving charts and figures; promote, pause and resume', async () => {
    await deploy('3.0.0', canary, '--detach');
    const page = await openPage('#/env/production');
    await signIn(page);
    const rollout = page.getByTestId('rollout');
    await expect.poll(() => page.locator('.step-current').textContent(), { timeout: 30_000 }).toContain('pause until promoted');
    expect(await rollout.getAttribute('data-phase')).toMatch(/progressing|paused/);
    expect(await page.getByTestId('strategy').textContent()).toContain('canary (25% → pause → 50% → pause)');
    await expect.poll(() => page.getByTestId('release-row-3').getByTestId('weight').textContent()).toBe('25%');

    // The charts fill with points as the canary takes traffic, and the figures change.
    const rpsChart = page.getByTestId('chart-rps');
    const points = async () => Number(await rpsChart.getAttribute('data-points'));
    await expect.poll(points, { timeout: 20_000 }).toBeGreaterThan(1);
    const before = await points();
    await expect.poll(points, { timeout: 20_000 }).toBeGreaterThan(before + 1);
    expect(await rpsChart.locator('canvas').count()).toBe(1);
    await expect.poll(async () => Number(await page.getByTestId('release-row-3').getByTestId('rps').textContent()), { timeout: 20_000 }).toBeGreaterThan(0);
    const rpsText = await page.getByTestId('release-row-2').getByTestId('rps').textContent();
    await expect.poll(async () => page.getByTestId('release-row-2').getByTestId('rps').textContent(), { timeout: 20_000 }).not.toBe(rpsText);

    await page.getByRole('button', { name: 'Promote', exact: true }).click();
    await expect.poll(() => page.getByTestId('release-row-3').getByTestId('weight').textContent(), { timeout: 30_000 }).toBe('50%');
    await expect.poll(() => page.locator('.step-current').textContent(), { timeout: 30_000 }).toContain('pause until promoted');
    await expect.poll(() => page.getByTestId('timeline').locator('.step-done').count()).toBeGreaterThanOrEqual(4);
    await expect.poll(() => page.getByTestId('events').textContent()).toContain('promote by admin');
    // Pause holds the rollout where it is; Resume lets it go on.
    await page.getByRole('button', { name: 'Pause' }).click();
    await expect.poll(() => rollout.getAttribute('data-phase'), { timeout: 20_000 }).toBe('paused');
    await page.getByRole('button', { name: 'Resume' }).click();
    await expect.poll(() => rollout.getAttribute('data-phase'), { timeout: 20_000 }).toBe('progressing');
    await shot(page, '03-canary-live');
    await page.close();
  });

  it('shows a viewer the rollout but no button to act', async () => {
    const r = await apiFetch(`${server.url}/api/tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'vera', role: 'viewer' }) });
    expect(r.status).toBe(201);
    const viewer = ((await r.json()) as { token: string }).token;
    const page = await openPage('#/env/production');
    await signIn(page, viewer);
    await expect.poll(() => page.getByTestId('role').textContent()).toBe('viewer');
    await expect.poll(() => page.locator('.step-current').textContent()).toContain('pause until promoted');
    await expect.poll(() => page.getByTestId('release-row-3').getByTestId('weight').textContent()).toBe('50%');
    expect(await page.getByTestId('actions').count()).toBe(0);
    expect(await page.getByRole('button', { name: /Promote|Abort|Pause|Resume/ }).count()).toBe(0);
    await shot(page, '04-viewer');
    await page.getByRole('link', { name: 'Releases' }).click();
    await expect.poll(() => page.getByTestId('releases').locator('tbody tr').count()).toBe(3);
    expect(await page.getByRole('button', { name: /Roll back/ }).count()).toBe(0);
    await page.close();
  });

  it('aborts the canary after a confirmation and shows all traffic back on stable', async () => {
    const page = await openPage('#/env/production');
    await signIn(page);
    const rollout = page.getByTestId('rollout');
    await expect.poll(() => page.getByTestId('release-row-3').getByTestId('weight').textContent()).toBe('50%');
    await page.getByRole('button', { name: 'Abort…' }).click();
    const dialog = page.getByTestId('confirm');
    await expect.poll(() => dialog.textContent()).toContain('All traffic goes back to the stable release #2');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect(await dialog.count()).toBe(0);
    expect(await rollout.getAttribute('data-phase')).toMatch(/progressing|paused/);
    await page.getByRole('button', { name: 'Abort…' }).click();
    await dialog.getByRole('button', { name: 'Abort rollout' }).click();
    await expect.poll(() => rollout.getAttribute('data-phase'), { timeout: 30_000 }).toBe('rolled_back');
    await expect.poll(() => page.getByTestId('release-row-2').getByTestId('weight').textContent()).toBe('100%');
    await expect.poll(() => page.getByTestId('release-row-3').count(), { timeout: 30_000 }).toBe(0);
    expect(await page.getByTestId('actions').count()).toBe(0);
    expect((await status()).weights).toEqual({ 2: 100 });
    await shot(page, '05-canary-aborted');
    await page.close();
  });

  it('rolls back to an earlier release from the releases page', async () => {
    const page = await openPage('#/env/production/releases');
    await signIn(page);
    const table = page.getByTestId('releases');
    await expect.poll(() => table.getByTestId('release-2').textContent()).toContain('stable');
    await expect.poll(() => table.getByTestId('release-3').textContent()).toContain('admin');
    await table.getByTestId('release-1').getByRole('button', { name: 'Roll back to #1' }).click();
    await page.getByTestId('confirm').getByRole('button', { name: 'Roll back to #1' }).click();
    // The page moves to the rollout view and follows the rollback to the end.
    await expect.poll(() => page.getByTestId('rollout').textContent(), { timeout: 30_000 }).toContain('rollback #2 → #1');
    await expect.poll(() => page.getByTestId('stable').first().textContent(), { timeout: 45_000 }).toContain('#1');
    await expect.poll(() => page.getByTestId('rollout').getAttribute('data-phase')).toBe('succeeded');
    await shot(page, '06-rolled-back');
    await page.close();
  });

  it('finds a request log line and follows new ones', async () => {
    const page = await openPage('#/env/production/logs');
    await signIn(page);
    await page.getByTestId('log-filter').fill('"path":"/"');
    const shown = async () => Number(/^(\d+) of/.exec((await page.getByTestId('log-count').textContent()) ?? '')?.[1] ?? 0);
    await expect.poll(shown, { timeout: 20_000 }).toBeGreaterThan(0);
    const first = await shown();
    await expect.poll(shown, { timeout: 20_000 }).toBeGreaterThan(first);
    expect(await page.getByTestId('log').locator('.log-line').first().textContent()).toMatch(/request \{.*"path":"\/"/);
    await page.getByTestId('log-filter').fill('no line says this');
    await expect.poll(shown).toBe(0);
    await page.getByTestId('log-filter').fill('"path":"/"');
    await shot(page, '07-logs');
    await page.close();
  });

  it('shows the audit log with its chain verified and who did what', async () => {
    const page = await openPage('#/audit');
    await signIn(page);
    await expect.poll(() => page.getByTestId('audit-verify').getAttribute('data-ok')).toBe('true');
    await expect.poll(() => page.getByTestId('audit-verify').textContent()).toContain('Chain verified');
    const table = page.getByTestId('audit');
    await expect.poll(() => table.textContent()).toContain('rollout.abort');
    await expect.poll(() => table.textContent()).toContain('rollback');
    await shot(page, '08-audit');
    await page.close();
  });

  it('says so when the server stops answering, and at sign-in when it cannot be reached', async () => {
    const page = await openPage();
    await signIn(page);
    await page.getByTestId('env-production').waitFor();
    await server.kill9();
    await expect.poll(() => page.getByTestId('unreachable-banner').textContent(), { timeout: 15_000 }).toContain('The slipway server is not answering');
    await shot(page, '09-server-gone');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signInAttempt(page, token);
    await expect.poll(() => page.getByTestId('signin-error').textContent()).toContain('Cannot reach the slipway server');
    await shot(page, '10-unreachable-sign-in');
    await page.close();
  });
});

async function signInAttempt(page: Page, secret: string): Promise<void> {
  await page.getByLabel('API token').fill(secret);
  await page.getByRole('button', { name: 'Sign in' }).click();
}
