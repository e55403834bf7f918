// A dashboard page in headless Chromium (Debian's, driven by playwright-core; the
// flags are those ../shared/STACK.md gives), signed in with a token, closed after.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export async function inSignedInDashboard(o: { url: string; token: string; path: string }, look: (page: Page) => Promise<void>): Promise<void> {
  const profile = mkdtempSync(join(tmpdir(), 'slipway-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(30_000);
    await page.goto(`${o.url}/ui/${o.path}`);
    await page.getByLabel('API token').fill(o.token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await look(page);
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
}
