// Issue 18: the dashboard shows each host's certificate: issuer, expiry (days left,
// a warning under 14 days), and the last attempt to load or renew it with its
// error. Debian's Chromium (playwright-core) against a real server whose router
// serves certificates made by openssl.

import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { REPO, adminToken, apiFetch, freePort, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';
import { makeTestCa, makeTestCertificate, type TestCa, type TestCertificate } from './support/tls-certs.ts';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(REPO, 'test-output', 'dashboard');
const REFRESH = { timeout: 15_000 };

describe.skipIf(!existsSync(CHROMIUM) && !process.env.CI)('the dashboard shows TLS certificates', () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let browser: BrowserContext;
  let profile: string;
  let ca: TestCa;
  /** Expires in 2 days: a warning. */
  let soon: TestCertificate;
  /** Expires in 90 days. */
  let later: TestCertificate;
  let laterKeyFile: string;
  let pageErrors: string[] = [];

  const tlsYaml = (host: string, c: TestCertificate, keyFile: string) => [`hosts: [${host}]`, 'tls:', '  certificates:', `    - cert_file: ${c.certFile}`, `      key: { file: ${keyFile} }`].join('\n');

  async function openSignedIn(hash = ''): Promise<Page> {
    const page = await browser.newPage();
    onTestFinished(() => page.close());
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${server.url}/ui/${hash}`);
    await page.getByLabel('API token').fill(adminToken(dataDir)!);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('who').waitFor();
    return page;
  }

  const card = (page: Page, env: string): Locator => page.getByTestId(`env-${env}`);

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    work = scratchDir('slipway-dashboard-tls-');
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    ca = makeTestCa(work);
    soon = makeTestCertificate(ca, 'shop', ['shop.test'], 2);
    later = makeTestCertificate(ca, 'blog', ['blog.test', 'www.blog.test'], 90);
    const soonKeyFile = join(work, 'shop-key.pem');
    laterKeyFile = join(work, 'blog-key.pem');
    writeFileSync(soonKeyFile, soon.key, { mode: 0o600 });
    writeFileSync(laterKeyFile, later.key, { mode: 0o600 });
    server = await startServerProcess(dataDir, 'server.log', { ...process.env, SLIPWAY_TLS_CHECK_MS: '1000' });
    const policy = await apiFetch(`${server.url}/api/policy`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `environments:\n  '*':\n    secrets: { file: ['${work}/**'] }\n` }) });
    expect(policy.status, await policy.text()).toBe(200);
    writeService(app, {
      envs: {
        production: { instances: 1, port: await freePort(), extraYaml: tlsYaml('shop.test', soon, soonKeyFile) },
        staging: { instances: 1, port: await freePort(), extraYaml: tlsYaml('blog.test, www.blog.test', later, laterKeyFile) },
      },
    });
    profile = mkdtempSync(join(tmpdir(), 'slipway-chromium-'));
    const launched = chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, viewport: { width: 1400, height: 1000 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
    });
    try {
      for (const env of ['production', 'staging']) {
        const r = await runCli(['deploy', env], { cwd: app, dataDir, timeoutMs: 90_000 });
        expect(r.code, r.stdout + r.stderr).toBe(0);
      }
    } finally {
      browser = await launched;
    }
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('shows each environment\'s certificate with issuer and days left, warning under 14 days', async () => {
    pageErrors = [];
    const page = await openSignedIn();
    const shop = card(page, 'production').getByTestId('certificate');
    await expect.poll(() => shop.textContent(), REFRESH).toContain('shop.test');
    expect(await shop.getByTestId('certificate-issuer').textContent()).toBe('slipway test CA');
    expect(await shop.getByTestId('certificate-expiry').textContent()).toMatch(/^\((1 day|2 days) left\)$/);
    // When it was issued (its notBefore), as the certificate says.
    expect(await shop.getByTestId('certificate-issued').textContent()).toBe(` · issued ${new Date(new X509Certificate(soon.cert).validFrom).toISOString().slice(0, 10)}`);
    expect(await shop.getAttribute('data-expiry')).toBe('warn');
    // The warning stands out in the page's warning colour, not as plain text.
    expect(await shop.getByTestId('certificate-expiry').evaluate((e) => (globalThis as unknown as { getComputedStyle(x: unknown): { color: string } }).getComputedStyle(e).color)).toBe('rgb(180, 83, 9)');
    const blog = card(page, 'staging').getByTestId('certificate');
    expect(await blog.textContent()).toContain('blog.test, www.blog.test');
    expect(await blog.getByTestId('certificate-expiry').textContent()).toMatch(/^\((89|90) days left\)$/);
    expect(await blog.getAttribute('data-expiry')).toBe('ok');
    expect(await card(page, 'staging').getByTestId('certificate-attempt').textContent()).toMatch(/last load attempt .*ago: ok/);
    await page.screenshot({ path: join(SHOTS, 'tls-certificates.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('shows a failed load with its error while the certificate in use is still listed, on the card and the environment page', async () => {
    pageErrors = [];
    // Another certificate's key where staging's key file is: the load fails, the old pair keeps serving.
    writeFileSync(laterKeyFile, soon.key);
    await waitFor('the failed load in the status', async () => {
      const s = (await (await apiFetch(`${server.url}/api/environments/staging`)).json()) as { tls?: { lastAttempt: { ok: boolean } | null } };
      return s.tls?.lastAttempt?.ok === false;
    }, 20_000);
    const page = await openSignedIn();
    const staging = card(page, 'staging');
    await expect.poll(() => staging.getByTestId('certificate-error').textContent(), REFRESH).toContain("the key is not the certificate's");
    expect(await staging.getByTestId('certificate-attempt').textContent()).toMatch(/last load attempt .*ago: failed: tls\.certificates\[0\]/);
    expect(await staging.getByTestId('certificate').textContent()).toContain('blog.test');
    expect(await staging.textContent()).not.toContain('PRIVATE KEY');
    await page.screenshot({ path: join(SHOTS, 'tls-certificate-error.png'), fullPage: true });
    await page.goto(`${server.url}/ui/#/env/staging`);
    const detail = page.getByTestId('certificates');
    await expect.poll(() => detail.getByTestId('certificate-error').textContent(), REFRESH).toContain("the key is not the certificate's");
    expect(await detail.getByTestId('certificate-issuer').textContent()).toBe('slipway test CA');
    expect(pageErrors).toEqual([]);
    writeFileSync(laterKeyFile, later.key);
  }, 60_000);
});
