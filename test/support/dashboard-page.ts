// A dashboard page in headless Chromium (Debian's, driven by playwright-core; the
// flags are those ../shared/STACK.md gives), signed in with a token, closed after.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { apiFetch } from './harness.ts';

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

/**
 * Tokens of the users of a sign-off test, made once each on the server at `url()`:
 * alice is an admin (she starts runs), everyone else an approver for production.
 */
export function approverTokens(url: () => string): (user: string) => Promise<string> {
  const tokens = new Map<string, string>();
  return async (user) => {
    if (!tokens.has(user)) {
      const grant = user === 'alice' ? { role: 'admin' } : { role: 'approver', envs: ['production'] };
      const res = await apiFetch(`${url()}/api/tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, ...grant }) });
      if (res.status !== 201) throw new Error(`token for ${user}: HTTP ${res.status} ${await res.text()}`);
      tokens.set(user, ((await res.json()) as { token: string }).token);
    }
    return tokens.get(user)!;
  };
}

/** A new page of `browser` on the dashboard at `path`, signed in with `token` (the page says who). */
export async function signedInPage(browser: BrowserContext, o: { url: string; token: string; path: string }): Promise<Page> {
  const page = await browser.newPage();
  page.setDefaultTimeout(30_000);
  await page.goto(`${o.url}/ui/${o.path}`);
  await page.getByLabel('API token').fill(o.token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('who').waitFor();
  return page;
}
