// The dashboard in a real browser (Debian's Chromium driven by playwright-core)
// against a real slipway server, router and example-service instances under real
// load. Each test asserts on what the page shows and saves a screenshot under
// test-output/dashboard/.
//
// One server for the file, but no test depends on another: every environment gets
// releases #1 and #2 before the tests, each test that makes a rollout makes it in an
// environment of its own, and the test that kills a server starts its own. So
// `vitest -t '<name>'` runs any one of them alone, and a failure stays in its test.

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { ApiClient, followRollout } from '../src/cli/api-client.ts';
import { startTraffic } from '../src/cli/traffic.ts';
import {
  REPO, adminToken, apiFetch, freePort, getJson, killLeftovers, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService,
  type EnvOptions, type ServerProcess,
} from './support/harness.ts';
import type { EnvironmentStatus } from '../src/api/views.ts';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(REPO, 'test-output', 'dashboard');
const hasChromium = existsSync(CHROMIUM);

const ROLLING = 'type: rolling\nbatch: 2\nmax_unavailable: 0';
const CANARY = 'type: canary\nsteps:\n  - weight: 25\n  - pause: {}\n  - weight: 50\n  - pause: {}';
// Straight to the 50% pause, with no promote to wait for.
const CANARY_AT_HALF = 'type: canary\nsteps:\n  - weight: 50\n  - pause: {}';
// The page refreshes what it shows every 2 s (the releases and audit pages every 5 s):
// a wait on fetched data allows a few periods rather than expect.poll's 1-s default.
const REFRESH = { timeout: 10_000 };

// `production` is only read (by the overview and the logs); every other environment
// belongs to the one test that uses it.
const SHARED_ENV = 'production';
const TEST_ENVS = ['live-canary', 'viewer-canary', 'abort-canary', 'releases-page', 'audit-trail', 'quiet-watch', 'blue-green'] as const;
type TestEnv = (typeof TEST_ENVS)[number];

interface RolloutSnapshot {
  current: string;
  done: number;
  canaryWeight: string;
}

describe.skipIf(!hasChromium && !process.env.CI)('dashboard in a real browser', () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let token: string;
  let browser: BrowserContext;
  let profile: string;
  // Every environment of the service, as slipway.yaml lists them.
  const envs: Record<string, EnvOptions> = {};
  // Uncaught exceptions in the page fail the test that caused them.
  let pageErrors: string[] = [];
  let consoleErrors: string[] = [];
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir });
  const status = (env: string) => getJson<EnvironmentStatus>(`${server.url}/api/environments/${env}`);

  async function run(...args: string[]): Promise<void> {
    const r = await cli(...args);
    expect(r.code, `slipway ${args.join(' ')}\n${r.stdout}${r.stderr}`).toBe(0);
  }

  async function deploy(env: string, version: string, strategyYaml: string, ...flags: string[]): Promise<void> {
    envs[env] = { ...envs[env]!, strategyYaml };
    writeService(app, { version, envs });
    await run('deploy', env, ...flags);
  }

  /**
   * Releases #1 and #2 of every environment, rolled out in turn: #2 is stable. The CLI
   * deploys each version to the shared environment (it packs and sends the artefact);
   * the other environments get the same artefact and slipway.yaml through the API, as
   * the CLI sends them (its ApiClient), all at once: a CLI process costs seconds of CPU
   * on a loaded machine, a one-instance rollout well under one.
   */
  async function deployTwoReleasesEverywhere(): Promise<void> {
    const client = new ApiClient(server.url, token);
    for (const version of ['1.0.0', '2.0.0']) {
      writeService(app, { version, envs });
      await run('deploy', SHARED_ENV);
      const body = { artefact: (await status(SHARED_ENV)).stable!.artefactDigest, config: { text: readFileSync(join(app, 'slipway.yaml'), 'utf8'), file: 'slipway.yaml' }, force: false };
      await Promise.all(TEST_ENVS.map(async (env) => {
        const answer = await client.deploy(`hello/${env}`, body);
        const final = await followRollout(client, answer.rollout!.id, () => undefined);
        expect(final.phase, `${env} ${version}`).toBe('succeeded');
      }));
    }
  }

  /** A canary of #3 under way beside the stable #2 (the CLI returns once it is accepted). */
  const startCanary = (env: TestEnv, strategyYaml: string) => deploy(env, '3.0.0', strategyYaml, '--detach');

  /** #2 stable and a canary of #3 waiting at its pause with half the traffic. */
  async function canaryAtHalf(env: TestEnv): Promise<void> {
    await startCanary(env, CANARY_AT_HALF);
    await waitFor('the canary to wait at its pause', async () => (await status(env)).rollout?.current === 'pause until promoted', 30_000);
  }

  /** Steady, bounded load on an environment until the test ends: the charts and figures need requests. */
  function sendTraffic(env: string): void {
    const traffic = startTraffic({ url: `http://127.0.0.1:${envs[env]!.port}/`, concurrency: 2, pauseMs: 25, maxDurationMs: 60_000 });
    onTestFinished(async () => {
      await traffic.stop();
    });
  }

  async function openPage(hash = '', origin = server.url): Promise<Page> {
    const page = await browser.newPage();
    onTestFinished(() => page.close());
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
    await page.goto(`${origin}/ui/${hash}`);
    return page;
  }

  async function signIn(page: Page, secret = token): Promise<void> {
    // Once seen to time out on a loaded CI machine: say what the page showed instead.
    await page.getByLabel('API token').waitFor().catch(async (e: Error) => {
      throw new Error(`${e.message}\npage text: ${(await page.locator('body').textContent().catch(() => '?'))?.slice(0, 500)}\npage errors: ${pageErrors.join(' | ')}\nconsole: ${consoleErrors.join(' | ')}`);
    });
    await page.getByLabel('API token').fill(secret);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('who').waitFor();
  }

  async function openSignedIn(hash: string): Promise<Page> {
    const page = await openPage(hash);
    await signIn(page);
    return page;
  }

  /** Wider than the window: the page scrolls sideways. */
  const sidewaysOverflow = (page: Page) => page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');

  /** Axis labels of a chart that stick out of its SVG (by more than half a pixel), as their text. */
  const clippedLabels = (page: Page, testid: string) => page.getByTestId(testid).evaluate((fig) => {
    const svg = fig.querySelector('svg');
    if (!svg) return ['(no svg)'];
    const box = svg.getBoundingClientRect();
    return [...svg.querySelectorAll('.axis-label')].filter((t) => {
      const r = t.getBoundingClientRect();
      return r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5;
    }).map((t) => t.textContent);
  });

  const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const weightOf = (page: Page, release: number) => page.getByTestId(`release-row-${release}`).getByTestId('weight').textContent();

  /** Waits until the rollout page shows a pause until promoted with at least `done` steps done; returns what it showed then, read at one instant. */
  async function untilPause(page: Page, done: number): Promise<RolloutSnapshot> {
    let seen: RolloutSnapshot = { current: '', done: 0, canaryWeight: '' };
    await expect.poll(async () => {
      seen = await page.evaluate<RolloutSnapshot>(`({
        current: document.querySelector('.step-current')?.textContent ?? '',
        done: document.querySelectorAll('[data-testid="timeline"] .step-done').length,
        canaryWeight: document.querySelector('[data-testid="release-row-3"] [data-testid="weight"]')?.textContent ?? '',
      })`);
      return seen.current.includes('pause until promoted') && seen.done >= done;
    }, { timeout: 30_000 }).toBe(true);
    return seen;
  }

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    envs[SHARED_ENV] = { instances: 2, port: await freePort(), config: { LOG_EVERY_REQUEST: '1' }, strategyYaml: ROLLING };
    // One instance each: a test's own rollout needs no more, and deploys faster.
    for (const env of TEST_ENVS) envs[env] = { instances: 1, port: await freePort(), strategyYaml: ROLLING };
    // No traffic ever reaches it: the watch of its #2 ends without a verdict.
    envs['quiet-watch'] = { ...envs['quiet-watch']!, extraYaml: 'watch: 3s' };
    writeService(app, { envs });
    server = await startServerProcess(dataDir);
    token = adminToken(dataDir)!;
    profile = mkdtempSync(join(tmpdir(), 'slipway-chromium-'));
    // The browser starts while the deploys run; it is kept (and closed after) even if they fail.
    const launched = chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, viewport: { width: 1400, height: 1000 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
    });
    try {
      await deployTwoReleasesEverywhere();
    } finally {
      browser = await launched;
    }
  }, 180_000);

  afterAll(async () => {
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
    await expect.poll(() => page.getByTestId('signin-error').textContent(), REFRESH).toContain('This token was refused: the API token is not valid');
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    expect(page.url()).not.toContain('slw_');
    await shot(page, '01-wrong-token');
  });

  it('shows every environment with its stable release, traffic split and live figures', async () => {
    sendTraffic(SHARED_ENV);
    // `slipway dashboard` says where the page is.
    const d = await cli('--json', 'dashboard');
    expect(d.code, d.stderr).toBe(0);
    const { url } = JSON.parse(d.stdout) as { url: string };
    expect(url).toBe(`${server.url}/ui/`);
    const page = await openPage();
    await signIn(page);
    expect(page.url()).not.toContain(token);
    expect(await page.evaluate('sessionStorage.getItem("slipway.token")')).toBe(token);
    await expect.poll(() => page.getByTestId('role').textContent(), REFRESH).toBe('admin');
    const card = page.getByTestId(`env-${SHARED_ENV}`);
    await expect.poll(() => card.getByTestId('stable').textContent(), REFRESH).toContain('#2');
    await expect.poll(() => card.getByTestId('release-row-2').getByTestId('weight').textContent(), REFRESH).toBe('100%');
    // Requests per second of the stable release, from the live figures.
    await expect.poll(async () => Number(await card.getByTestId('release-row-2').getByTestId('rps').textContent()), { timeout: 20_000 }).toBeGreaterThan(5);
    await expect.poll(() => card.getByTestId('release-row-2').textContent(), REFRESH).toContain('2/2 healthy');
    expect(await page.locator(`[data-service="hello"] .service-name`).textContent()).toContain('hello');
    await shot(page, '02-overview');
  });

  it('follows a canary live: timeline, moving charts and figures; promote, pause and resume', async () => {
    const env: TestEnv = 'live-canary';
    sendTraffic(env);
    await startCanary(env, CANARY);
    const page = await openSignedIn(`#/env/${env}`);
    const rollout = page.getByTestId('rollout');
    // The step and the traffic split come in one answer: the page shows each pause with its own weight at once.
    expect((await untilPause(page, 0)).canaryWeight).toBe('25%');
    await expect.poll(() => page.locator('.step-current').textContent(), { timeout: 30_000 }).toContain('pause until promoted');
    expect(await rollout.getAttribute('data-phase')).toMatch(/progressing|paused/);
    expect(await page.getByTestId('strategy').textContent()).toContain('canary (25% → pause → 50% → pause)');
    await expect.poll(() => weightOf(page, 3), REFRESH).toBe('25%');

    // The charts fill with points as the canary takes traffic, and the figures change.
    const rpsChart = page.getByTestId('chart-rps');
    const points = async () => Number(await rpsChart.getAttribute('data-points'));
    await expect.poll(points, { timeout: 20_000 }).toBeGreaterThan(1);
    const before = await points();
    await expect.poll(points, { timeout: 20_000 }).toBeGreaterThan(before + 1);
    // Drawn as SVG: every label is on the page, none cut off, and the legend gives figures, not "Time: --".
    expect(await rpsChart.locator('svg').count()).toBe(1);
    for (const chart of ['chart-errors', 'chart-latency', 'chart-rps']) expect(await clippedLabels(page, chart), chart).toEqual([]);
    expect(await page.getByTestId('chart-rps-legend').textContent()).toMatch(/#3 new \d/);
    expect(await page.getByTestId('chart-rps-legend').textContent()).not.toContain('--');
    expect(await page.getByTestId('service-name').textContent()).toContain('hello');
    await expect.poll(async () => Number(await page.getByTestId('release-row-3').getByTestId('rps').textContent()), { timeout: 20_000 }).toBeGreaterThan(0);
    const rpsText = await page.getByTestId('release-row-2').getByTestId('rps').textContent();
    await expect.poll(async () => page.getByTestId('release-row-2').getByTestId('rps').textContent(), { timeout: 20_000 }).not.toBe(rpsText);

    await page.getByRole('button', { name: 'Promote', exact: true }).click();
    expect((await untilPause(page, 4)).canaryWeight).toBe('50%');
    await expect.poll(() => weightOf(page, 3), { timeout: 30_000 }).toBe('50%');
    await expect.poll(() => page.locator('.step-current').textContent(), { timeout: 30_000 }).toContain('pause until promoted');
    await expect.poll(() => page.getByTestId('timeline').locator('.step-done').count(), REFRESH).toBeGreaterThanOrEqual(4);
    await expect.poll(() => page.getByTestId('events').textContent(), REFRESH).toContain('promote by admin');
    // The x axis spans this rollout (from just before it started), not the last 15 minutes, so
    // the new release's line fills a good part of the chart instead of a sliver at its right edge.
    const started = (await status(env)).rollout!.createdAt;
    expect(Number(await rpsChart.getAttribute('data-x-from'))).toBeGreaterThanOrEqual(started - 20_000);
    await expect.poll(() => rpsChart.evaluate((fig) => {
      const svg = fig.querySelector('svg')!.getBoundingClientRect();
      return fig.querySelectorAll('path.line')[1]!.getBoundingClientRect().width / svg.width;
    }), REFRESH).toBeGreaterThan(0.3);
    // Pause holds the rollout where it is; Resume lets it go on.
    await page.getByRole('button', { name: 'Pause' }).click();
    await expect.poll(() => rollout.getAttribute('data-phase'), { timeout: 20_000 }).toBe('paused');
    await page.getByRole('button', { name: 'Resume' }).click();
    await expect.poll(() => rollout.getAttribute('data-phase'), { timeout: 20_000 }).toBe('progressing');
    await shot(page, '03-canary-live');
    // The release being rolled out is not offered as a rollback target; an older one is.
    await page.getByRole('link', { name: 'Releases' }).click();
    const table = page.getByTestId('releases');
    await expect.poll(() => table.getByTestId('release-3').textContent(), REFRESH).toContain('rolling out now');
    expect(await table.getByTestId('release-3').getByRole('button').count()).toBe(0);
    expect(await table.getByTestId('release-1').getByRole('button', { name: 'Roll back to #1' }).count()).toBe(1);
    // Newest first, as the API lists them and docs/dashboard.md says.
    expect(await table.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-testid')))).toEqual(['release-3', 'release-2', 'release-1']);
  });

  it('shows a viewer the rollout but no button to act', async () => {
    const env: TestEnv = 'viewer-canary';
    await canaryAtHalf(env);
    const r = await apiFetch(`${server.url}/api/tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'vera', role: 'viewer' }) });
    expect(r.status).toBe(201);
    const viewer = ((await r.json()) as { token: string }).token;
    const page = await openPage(`#/env/${env}`);
    await signIn(page, viewer);
    await expect.poll(() => page.getByTestId('role').textContent(), REFRESH).toBe('viewer');
    await expect.poll(() => page.locator('.step-current').textContent(), REFRESH).toContain('pause until promoted');
    await expect.poll(() => weightOf(page, 3), REFRESH).toBe('50%');
    expect(await page.getByTestId('actions').count()).toBe(0);
    expect(await page.getByRole('button', { name: /Promote|Abort|Pause|Resume/ }).count()).toBe(0);
    await shot(page, '04-viewer');
    await page.getByRole('link', { name: 'Releases' }).click();
    await expect.poll(() => page.getByTestId('releases').locator('tbody tr').count(), REFRESH).toBe(3);
    expect(await page.getByRole('button', { name: /Roll back/ }).count()).toBe(0);
  });

  it('aborts the canary after a confirmation and shows all traffic back on stable', async () => {
    const env: TestEnv = 'abort-canary';
    await canaryAtHalf(env);
    const page = await openSignedIn(`#/env/${env}`);
    const rollout = page.getByTestId('rollout');
    await expect.poll(() => weightOf(page, 3), REFRESH).toBe('50%');
    await page.getByRole('button', { name: 'Abort…' }).click();
    const dialog = page.getByTestId('confirm');
    await expect.poll(() => dialog.textContent()).toContain('All traffic goes back to the stable release #2');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect(await dialog.count()).toBe(0);
    expect(await rollout.getAttribute('data-phase')).toMatch(/progressing|paused/);
    await page.getByRole('button', { name: 'Abort…' }).click();
    await dialog.getByRole('button', { name: 'Abort rollout' }).click();
    await expect.poll(() => rollout.getAttribute('data-phase'), { timeout: 30_000 }).toBe('rolled_back');
    await expect.poll(() => weightOf(page, 2), REFRESH).toBe('100%');
    await expect.poll(() => page.getByTestId('release-row-3').count(), { timeout: 30_000 }).toBe(0);
    expect(await page.getByTestId('actions').count()).toBe(0);
    expect((await status(env)).weights).toEqual({ 2: 100 });
    await shot(page, '05-canary-aborted');
  });

  it('rolls back to an earlier release from the releases page', async () => {
    const env: TestEnv = 'releases-page';
    // #3 made and aborted: #2 stays stable, #1 is there to go back to.
    await startCanary(env, CANARY);
    await run('abort', env, '--wait');
    const page = await openSignedIn(`#/env/${env}/releases`);
    const table = page.getByTestId('releases');
    await expect.poll(() => table.getByTestId('release-2').textContent(), REFRESH).toContain('stable');
    await expect.poll(() => table.getByTestId('release-3').textContent(), REFRESH).toContain('admin');
    await table.getByTestId('release-1').getByRole('button', { name: 'Roll back to #1' }).click();
    await page.getByTestId('confirm').getByRole('button', { name: 'Roll back to #1' }).click();
    // The page moves to the rollout view and follows the rollback to the end.
    await expect.poll(() => page.getByTestId('rollout').textContent(), { timeout: 30_000 }).toContain('rollback #2 → #1');
    await expect.poll(() => page.getByTestId('stable').first().textContent(), { timeout: 45_000 }).toContain('#1');
    await expect.poll(() => page.getByTestId('rollout').getAttribute('data-phase'), REFRESH).toBe('succeeded');
    await shot(page, '06-rolled-back');
  });

  it('finds a request log line and follows new ones', async () => {
    sendTraffic(SHARED_ENV);
    const page = await openSignedIn(`#/env/${SHARED_ENV}/logs`);
    await page.getByTestId('log-filter').fill('"path":"/"');
    const shown = async () => Number(/^(\d+) of/.exec((await page.getByTestId('log-count').textContent()) ?? '')?.[1] ?? 0);
    await expect.poll(shown, { timeout: 20_000 }).toBeGreaterThan(0);
    const firstCount = await shown();
    await expect.poll(shown, { timeout: 20_000 }).toBeGreaterThan(firstCount);
    const first = page.getByTestId('log').locator('.log-line').first();
    expect(await first.textContent()).toMatch(/request \{.*"path":"\/"/);
    // A time column (to the millisecond) and a level column before each line.
    expect(await first.locator('.log-time').textContent()).toMatch(/^\d\d:\d\d:\d\d\.\d{3}$/);
    expect(await first.locator('.log-level').textContent()).toMatch(/^(info|warn|error|debug)$/);
    await page.getByTestId('log-filter').fill('no line says this');
    await expect.poll(shown).toBe(0);
    await page.getByTestId('log-filter').fill('"path":"/"');
    await shot(page, '07-logs');
  });

  it('shows the audit log with its chain verified and who did what', async () => {
    const env: TestEnv = 'audit-trail';
    // A rollback (#2 → #1), then an abort (of a canary of #3): both by admin.
    await run('rollback', env);
    await startCanary(env, CANARY);
    await run('abort', env);
    const page = await openSignedIn('#/audit');
    await expect.poll(() => page.getByTestId('audit-verify').getAttribute('data-ok'), REFRESH).toBe('true');
    await expect.poll(() => page.getByTestId('audit-verify').textContent(), REFRESH).toContain('Chain verified');
    const table = page.getByTestId('audit');
    await expect.poll(() => table.textContent(), REFRESH).toContain('rollout.abort');
    await expect.poll(() => table.textContent(), REFRESH).toContain('rollback');
    await shot(page, '08-audit');
  });

  it('shows a watch window that ended without a verdict as a warning', async () => {
    await waitFor('the quiet watch to end', async () => (await status('quiet-watch')).watch?.state === 'inconclusive', 30_000);
    const page = await openSignedIn('#/env/quiet-watch');
    const card = page.getByTestId('watch');
    await expect.poll(() => card.getAttribute('data-state'), REFRESH).toBe('inconclusive');
    expect(await card.getByTestId('watch-state').textContent()).toBe('ended without a verdict');
    expect(await card.getByTestId('watch-warning').textContent()).toContain('it was not proven healthy');
    expect(await card.textContent()).toContain('#2 against no record of #1 serving requests');
    await shot(page, '11-watch-inconclusive');
  });

  it('shows the blue-green preview address while the new colour waits for promotion', async () => {
    const env: TestEnv = 'blue-green';
    const previewPort = await freePort();
    await deploy(env, '3.0.0', `type: blue-green\nauto_promote: false\npreview_listen: 127.0.0.1:${previewPort}`, '--detach');
    await waitFor('the preview to open', async () => (await status(env)).preview?.release === 3, 30_000);
    const page = await openSignedIn(`#/env/${env}`);
    const address = page.getByTestId('preview-address');
    await expect.poll(() => address.textContent(), REFRESH).toBe(`http://127.0.0.1:${previewPort}/`);
    expect(await page.getByTestId('preview').textContent()).toContain('Preview of #3');
    // The address shown answers, from the new colour.
    expect((await fetch(`http://127.0.0.1:${previewPort}/`)).status).toBe(200);
    await shot(page, '15-blue-green-preview');
    await run('abort', env, '--wait');
  });

  it('fits a 420 px wide window: no sideways scroll, no clipped chart label', async () => {
    sendTraffic(SHARED_ENV);
    const page = await openSignedIn('');
    await page.setViewportSize({ width: 420, height: 900 });
    await page.getByTestId(`env-${SHARED_ENV}`).waitFor();
    await expect.poll(() => page.getByTestId(`env-${SHARED_ENV}`).getByTestId('release-row-2').textContent(), REFRESH).toContain('healthy');
    expect(await sidewaysOverflow(page)).toBeLessThanOrEqual(0);
    await shot(page, '16-overview-420px');
    for (const view of ['', '/releases', '/logs']) {
      await page.goto(`${server.url}/ui/#/env/${SHARED_ENV}${view}`);
      await page.getByRole('heading', { name: /production/ }).first().waitFor();
      if (view === '') {
        await expect.poll(async () => Number(await page.getByTestId('chart-rps').getAttribute('data-points')), { timeout: 20_000 }).toBeGreaterThan(1);
        for (const chart of ['chart-errors', 'chart-latency', 'chart-rps']) expect(await clippedLabels(page, chart), chart).toEqual([]);
      }
      expect(await sidewaysOverflow(page), `#/env/${SHARED_ENV}${view}`).toBeLessThanOrEqual(0);
      if (view === '') await shot(page, '17-environment-420px');
    }
  });

  it('follows the server\'s event stream instead of polling the status', async () => {
    const page = await openPage(`#/env/${SHARED_ENV}`);
    const asked: string[] = [];
    page.on('request', (r) => asked.push(new URL(r.url()).pathname));
    await signIn(page);
    await page.getByTestId('rollout').or(page.getByText('No rollout yet.')).first().waitFor();
    await page.waitForTimeout(10_000);
    expect(asked.filter((p) => p === '/api/events').length).toBe(1);
    // Polling every 2 s would have asked 5 times or more in these 10 s; with no news, once, and once more when the stream opens.
    expect(asked.filter((p) => p === `/api/environments/${SHARED_ENV}`).length).toBeLessThanOrEqual(3);
  });

  it('says so when the server stops answering, and at sign-in when it cannot be reached', async () => {
    // A server of its own to kill, with its own service directory and port.
    const own = join(scratchDir(), 'hello');
    const ownDataDir = join(own, '..', '.slipway');
    writeService(own, { envs: { production: { instances: 1, port: await freePort(), strategyYaml: ROLLING } } });
    const doomed = await startServerProcess(ownDataDir);
    onTestFinished(async () => {
      await doomed.kill9();
      killLeftovers(ownDataDir);
    });
    const deployed = await runCli(['deploy', 'production'], { cwd: own, dataDir: ownDataDir });
    expect(deployed.code, deployed.stdout + deployed.stderr).toBe(0);
    const ownToken = adminToken(ownDataDir)!;
    const page = await openPage('', doomed.url);
    await signIn(page, ownToken);
    await page.getByTestId('env-production').waitFor();
    await doomed.kill9();
    await expect.poll(() => page.getByTestId('unreachable-banner').textContent(), { timeout: 15_000 }).toContain('The slipway server is not answering');
    await shot(page, '09-server-gone');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signInAttempt(page, ownToken);
    await expect.poll(() => page.getByTestId('signin-error').textContent(), REFRESH).toContain('Cannot reach the slipway server');
    await shot(page, '10-unreachable-sign-in');
  }, 120_000);
});

async function signInAttempt(page: Page, secret: string): Promise<void> {
  await page.getByLabel('API token').fill(secret);
  await page.getByRole('button', { name: 'Sign in' }).click();
}
