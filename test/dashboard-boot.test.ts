// The dashboard when one of its scripts does not load (a network change, a server
// restart mid-load): an ES module graph fails as a whole, so the page reloads itself
// (src/ui/boot.js) and comes up; past three failures it says what happened instead
// of staying empty. Debian's Chromium (playwright-core) against a real server.

import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { scratchDir, shutdownEverything, startServerProcess, type ServerProcess } from './support/harness.ts';

const CHROMIUM = '/usr/bin/chromium';

describe.skipIf(!existsSync(CHROMIUM) && !process.env.CI)('the dashboard loading its scripts', () => {
  let server: ServerProcess;
  let dataDir: string;
  let browser: BrowserContext;

  beforeAll(async () => {
    dataDir = join(scratchDir('slipway-dashboard-boot-'), '.slipway');
    server = await startServerProcess(dataDir);
    browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'slipway-chromium-')), {
      executablePath: CHROMIUM, headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  /** A page whose requests for `path` fail `times` times (as a dropped connection would), then load. */
  async function pageFailing(path: string, times: number): Promise<{ page: Page; loads: () => number }> {
    const page = await browser.newPage();
    onTestFinished(() => page.close());
    let failures = 0;
    let loads = 0;
    page.on('load', () => loads++);
    await page.route(`**${path}`, (route) => (failures++ < times ? route.abort('connectionreset') : route.continue()));
    return { page, loads: () => loads };
  }

  it('reloads itself when a module fails to load, and shows the sign-in', async () => {
    const { page, loads } = await pageFailing('/ui/views/logs.js', 1);
    await page.goto(`${server.url}/ui/`);
    await page.getByLabel('API token').waitFor({ timeout: 20_000 });
    // The page draws the sign-in from its module before its load event reaches us: wait for that event.
    await expect.poll(loads, { timeout: 5_000 }).toBe(2);
  }, 40_000);

  it('says the scripts did not load after three reloads, instead of an empty page', async () => {
    const { page, loads } = await pageFailing('/ui/vendor/preact.js', 100);
    await page.goto(`${server.url}/ui/`);
    await page.getByText('could not load its scripts from the slipway server').waitFor({ timeout: 30_000 });
    await expect.poll(loads, { timeout: 5_000 }).toBe(4);
    // and no fifth: it gave up reloading.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(loads()).toBe(4);
  }, 40_000);
});
