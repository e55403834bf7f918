// A release that retention removed, as a user choosing a rollback sees it: the API's
// release list marks it `retired` (with the date the refusal names), `slipway
// releases` says so and leaves it out of the releases a rollback can go to, and the
// dashboard's releases page marks it and offers no "Roll back to" for it. A real
// server, the real CLI and Debian's Chromium; keep_releases: 1 so that three deploys
// retire #1 (#3 is stable, #2 the rollback target).

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnvironmentStatus, ReleasesJson } from '../src/api/views.ts';
import { deployThroughApi } from './support/api-deploy.ts';
import { adminToken, apiFetch, freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess, type ServiceOptions } from './support/harness.ts';

const CHROMIUM = '/usr/bin/chromium';

describe('a release removed by retention, as the release lists show it', { timeout: 120_000 }, () => {
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let service: ServiceOptions;
  /** When retention retired #1, as the refused rollback says. */
  let retiredAt: number;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir });
  const list = () => getJson<ReleasesJson>(`${server.url}/api/environments/staging/releases`);

  async function deploy(version: string, expectStable: number): Promise<void> {
    writeService(app, { ...service, version });
    const r = await deployThroughApi({ url: server.url, token: adminToken(dataDir)!, dir: app, env: 'staging' });
    expect(r.ok, JSON.stringify(r)).toBe(true);
    await waitFor(`staging#${expectStable} to be stable`, async () => {
      const s = await getJson<EnvironmentStatus>(`${server.url}/api/environments/staging`);
      return s.rollout === null && s.stable?.number === expectStable;
    }, 30_000);
  }

  beforeAll(async () => {
    const work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    service = { envs: { staging: { instances: 1, port: await freePort(), extraYaml: 'keep_releases: 1' } } };
    server = await startServerProcess(dataDir);
    await deploy('1.0.0', 1);
    await deploy('2.0.0', 2);
    await deploy('3.0.0', 3);
    await waitFor('retention to retire #1', async () => {
      const audit = await getJson<{ entries: { target: string }[] }>(`${server.url}/api/audit?action=release.retire`);
      return audit.entries.some((e) => e.target === 'releases #1');
    });
    const refused = await apiFetch(`${server.url}/api/environments/staging/rollback`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to: 1 }) });
    expect(refused.status).toBe(409);
    retiredAt = ((await refused.json()) as { error: { details: { retiredAt: number } } }).error.details.retiredAt;
  }, 120_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('the API lists the retired release with the date a rollback to it is refused with; kept ones are not retired', async () => {
    const r = await list();
    expect(r.releases.map((x) => [x.number, x.isStable, x.retired])).toEqual([[3, true, null], [2, false, null], [1, false, { at: retiredAt }]]);
  });

  it('slipway releases marks the retired release and names only kept ones as rollback choices', async () => {
    const r = await cli('releases', 'staging');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^\* #3 .* stable$/);
    expect(lines[1]).toMatch(/^ {2}#2 /);
    expect(lines[1]).not.toContain('removed');
    expect(lines[2]).toMatch(new RegExp(`^ {2}#1 .*  removed by retention on ${new Date(retiredAt).toISOString().replace(/\./g, '\\.')}$`));
    expect(lines.at(-1)).toBe('slipway rollback hello/staging --to N can go to #2; the release removed by retention cannot be rolled back to (deploy that version again)');
    // What it says can be done is what the server does: #1 is refused, #2 goes.
    const refused = await cli('rollback', 'staging', '--to', '1');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('removed by release retention');
  });

  it('slipway --json releases carries retired for each release', async () => {
    const r = await cli('--json', 'releases', 'staging');
    expect(r.code, r.stderr).toBe(0);
    const answer = JSON.parse(r.stdout) as ReleasesJson;
    expect(Object.fromEntries(answer.releases.map((x) => [x.number, x.retired]))).toEqual({ 3: null, 2: null, 1: { at: retiredAt } });
  });

  describe.skipIf(!existsSync(CHROMIUM) && !process.env.CI)('on the dashboard', () => {
    let browser: BrowserContext;
    let profile: string;

    beforeAll(async () => {
      profile = mkdtempSync(join(tmpdir(), 'slipway-chromium-'));
      browser = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM, headless: true, viewport: { width: 1400, height: 1000 },
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
      });
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
      if (profile) rmSync(profile, { recursive: true, force: true });
    });

    it('the releases page marks the retired release and offers no rollback to it', async () => {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.setDefaultTimeout(30_000);
      await page.goto(`${server.url}/ui/#/env/${encodeURIComponent('hello/staging')}/releases`);
      await page.getByLabel('API token').fill(adminToken(dataDir)!);
      await page.getByRole('button', { name: 'Sign in' }).click();
      const table = page.getByTestId('releases');
      await table.getByTestId('release-1').waitFor();
      const retired = table.getByTestId('release-1');
      expect(await retired.getByTestId('retired').textContent()).toMatch(/^removed by retention /);
      expect(await retired.getByRole('button').count()).toBe(0);
      expect(await table.getByTestId('release-2').getByRole('button', { name: 'Roll back to #2' }).count()).toBe(1);
      expect(await table.getByTestId('release-2').getByTestId('retired').count()).toBe(0);
      expect(errors).toEqual([]);
      await page.close();
    }, 60_000);
  });
});
