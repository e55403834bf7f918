// The dashboard against values a deployer or an app controls, as an attacker with
// deploy rights would write them: markup, `</script>`, attribute breakouts, template
// tricks, `javascript:` URLs, bidi and ANSI control characters and very long strings
// in log lines, a maintenance message, a CI run's branch, job URL and notes, and an
// approval's reason. Debian's Chromium (playwright-core) against a real server, with
// a second server on another loopback port playing the attacker's site: every value
// must show as text, no dialog may open and no request may reach the attacker.
// Also: the headers of the page and of API answers, cross-site requests, framing,
// and where the token goes.

import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { packDirectory } from '../src/artefact/index.ts';
import { followRollout, ApiClient } from '../src/cli/api-client.ts';
import { adminToken, apiFetch, freePort, scratchDir, shutdownEverything, startServerProcess, waitFor, type ServerProcess } from './support/harness.ts';
import { deployThroughApi } from './support/api-deploy.ts';

const CHROMIUM = '/usr/bin/chromium';

describe.skipIf(!existsSync(CHROMIUM) && !process.env.CI)('the dashboard against hostile values', { timeout: 60_000 }, () => {
  let work: string;
  let dataDir: string;
  let server: ServerProcess;
  let token: string;
  let attacker: Server;
  let attackOrigin: string;
  let browser: BrowserContext;
  let runId: number;
  // Every request that reached the attacker's server (path), and every dialog a page opened.
  const attackerHits: string[] = [];
  const dialogs: string[] = [];
  // The page the attacker's server answers at /, set by a test.
  let attackPage = '<!doctype html><p>nothing</p>';

  /** Markup and breakouts that would run script or fetch from the attacker if the page put `where` into HTML. */
  const payload = (where: string) => `<img src=${attackOrigin}/img-${where} onerror=alert('${where}')>"'><script>alert('${where}')</script></script><svg onload=alert('${where}')>\${alert('${where}')}\` onmouseover=alert('${where}') x="`;

  beforeAll(async () => {
    work = scratchDir('slipway-dashboard-hostile-');
    dataDir = join(work, '.slipway');
    const attackPort = await freePort();
    attackOrigin = `http://127.0.0.1:${attackPort}`;
    attacker = createServer((req, res) => {
      attackerHits.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(attackPage);
    });
    await new Promise<void>((r) => attacker.listen(attackPort, '127.0.0.1', r));

    server = await startServerProcess(dataDir);
    token = adminToken(dataDir)!;
    const app = join(work, 'hostile');
    mkdirSync(app);
    const lines = [
      `plain ${payload('log')}`,
      JSON.stringify({ msg: `json ${payload('logjson')}`, level: `info" onmouseover="alert('level')`, [`key${payload('logkey')}`]: payload('logfield') }),
      `ansi \x1b[31mred\x1b[0m \x1b]8;;javascript:alert(1)\x1b\\link\x1b]8;;\x1b\\ bidi \u202eevil\u202c end`,
      `long ${'A'.repeat(20_000)}`,
    ];
    writeFileSync(join(app, 'server.js'), [
      "import http from 'node:http';",
      `for (const l of ${JSON.stringify(lines)}) process.stdout.write(l + '\\n');`,
      "http.createServer((req, res) => res.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');",
    ].join('\n'));
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'hostile', version: '1.0.0', type: 'module' }));
    const [staging, production] = [await freePort(), await freePort()];
    const env = (port: number) => [`    instances: 1`, `    listen: 127.0.0.1:${port}`, '    strategy: { type: rolling, batch: 1, max_unavailable: 0 }', '    config:', `      GREETING: ${JSON.stringify(payload('config'))}`];
    writeFileSync(join(app, 'slipway.yaml'), [
      'service: hostile', 'run:', '  command: node server.js', '  port_env: PORT',
      'health:', '  path: /', '  interval: 200ms', '  healthy_threshold: 1', '  start_deadline: 10s',
      'shutdown:', '  drain_timeout: 1s', '  kill_timeout: 1s',
      'pipeline:', '  health_window: 1s', '  rollback_drill: false',
      'environments:', '  staging:', ...env(staging), '  production:', ...env(production), '',
    ].join('\n'));

    const deployed = await deployThroughApi({ url: server.url, token, dir: app, env: 'hostile/staging' });
    if (!deployed.ok) throw new Error(JSON.stringify(deployed.error));
    await followRollout(new ApiClient(server.url, token), deployed.answer.rollout!.id, () => undefined);

    // A run as a CI (the admin holds `release`) would start one: its branch, job URL and notes are the CI's to write.
    const packed = await packDirectory({ dir: app, outFile: join(work, 'artefact.tar.gz') });
    const up = await apiFetch(`${server.url}/api/pipeline/ci/artefacts`, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'x-slipway-digest': packed.digest, 'x-slipway-service': 'hostile' }, body: readFileSync(packed.file) });
    expect(up.status, await up.text()).toBe(201);
    const ciRun = (ci: Record<string, unknown>) => apiFetch(`${server.url}/api/pipeline/ci/runs`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ artefact: packed.digest, ci: { provider: 'github-actions', commit: 'ab'.repeat(20), ...ci }, notes: payload('notes') }),
    });
    expect((await ciRun({ jobUrl: 'javascript:alert(1)' })).status).toBe(400);
    const started = await ciRun({ branch: `<svg/onload=alert('branch')>`, jobUrl: `https://ci.example/"><img src=${attackOrigin}/img-joburl onerror=alert('joburl')>` });
    expect(started.status, await started.clone().text()).toBe(202);
    runId = ((await started.json()) as { run: { id: number } }).run.id;
    // Another user's reason (four eyes: the starter may not decide).
    const approver = (await (await apiFetch(`${server.url}/api/tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'ana', role: 'approver' }) })).json()) as { token: string };
    const rejected = await fetch(`${server.url}/api/pipeline/runs/${runId}/reject`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${approver.token}` }, body: JSON.stringify({ reason: payload('reason') }) });
    expect(rejected.status, await rejected.text()).toBe(201);
    // Last: staging in maintenance would have failed the run's health window.
    const on = await apiFetch(`${server.url}/api/environments/hostile%2Fstaging/maintenance/on`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ message: payload('maintenance') }) });
    expect(on.status, await on.text()).toBe(200);

    browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'slipway-chromium-')), {
      executablePath: CHROMIUM, headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'],
    });
    browser.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    // Its browser's keep-alive connections would hold close() past the hook's timeout, and the server below would be left running.
    attacker?.closeAllConnections();
    await new Promise<void>((r) => (attacker ? attacker.close(() => r()) : r()));
    await shutdownEverything(server?.url ?? null, dataDir);
    // Nothing of the server may outlive its shutdown: a router it started again while
    // shutting down used to write on into this directory, and its removal failed.
    if (work) rmSync(work, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  });

  async function signedIn(hash: string): Promise<Page> {
    const page = await browser.newPage();
    onTestFinished(() => page.close());
    page.setDefaultTimeout(20_000);
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await page.goto(`${server.url}/ui/`);
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('who').waitFor();
    await page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
    return page;
  }

  /** Nothing ran: no dialog, no request to the attacker, no element the payloads would have made. */
  async function expectInert(page: Page): Promise<void> {
    // Hover everything once: an attribute breakout would have made an onmouseover.
    await page.evaluate("document.querySelectorAll('*').forEach((el) => el.dispatchEvent(new MouseEvent('mouseover', { bubbles: true })))");
    await page.waitForTimeout(300);
    expect(dialogs).toEqual([]);
    expect(attackerHits).toEqual([]);
    expect(await page.locator('#app img, #app script, #app svg[onload], [onmouseover], [onerror], a[href^="javascript:" i]').count()).toBe(0);
  }

  it.each([
    ['logs', '#/env/hostile%2Fstaging/logs', ['plain <img src=', 'json <img src=', 'logfield', 'ansi']],
    ['overview', '#/', ["<img src=", "alert('maintenance')"]],
    ['runs', '#/runs', ['hostile']],
    ['run', () => `#/runs/${runId}`, ["alert('reason')", 'GitHub Actions']],
    ['audit', '#/audit', ['maintenance.on']],
  ] as const)('the %s page shows hostile values as text and runs none of them', async (_name, hash, texts) => {
    const page = await signedIn(typeof hash === 'function' ? hash() : hash);
    for (const t of texts) await page.getByText(t, { exact: false }).first().waitFor();
    await expectInert(page);
    // A very long value wraps or scrolls in its own box: the page never scrolls sideways.
    expect(await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth')).toBeLessThanOrEqual(0);
  });

  /** Security headers every answer of the server carries (the dashboard's page has its own policy). */
  const expectApiHeaders = (res: Response, what: string) => {
    expect(res.headers.get('x-content-type-options'), what).toBe('nosniff');
    expect(res.headers.get('content-security-policy'), what).toMatch(/default-src 'none'.*frame-ancestors 'none'/);
    expect(res.headers.get('x-frame-options'), what).toBe('DENY');
    expect(res.headers.get('referrer-policy'), what).toBe('no-referrer');
  };

  it('the page allows no inline script, no framing and no other origin; API answers are never sniffed or framed', async () => {
    const page = await fetch(`${server.url}/ui/`);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("object-src 'none'");
    expect(csp).toMatch(/script-src 'self' 'sha256-[^']+'(;|$)/);
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');

    const auth = { authorization: `Bearer ${token}` };
    const answers: Array<[string, Promise<Response>]> = [
      ['a JSON answer', fetch(`${server.url}/api/whoami`, { headers: auth })],
      ['a refusal', fetch(`${server.url}/api/whoami`)],
      ['no such route, with markup in its path', fetch(`${server.url}/api/%3Cimg%20src=x%20onerror=alert(1)%3E`)],
      ['a public answer', fetch(`${server.url}/healthz`)],
      ['the log stream', fetch(`${server.url}/api/environments/hostile%2Fstaging/logs?follow=1`, { headers: auth })],
      ['the event stream', fetch(`${server.url}/api/events`, { headers: auth })],
    ];
    for (const [what, answer] of answers) {
      const res = await answer;
      expectApiHeaders(res, what);
      await res.body?.cancel();
    }
  });

  it('no redirect leads off the server', async () => {
    for (const path of ['/', '/ui', '//127.0.0.1:1/', '/ui//127.0.0.1:1/', '/%2F127.0.0.1:1/', '/ui/%2F%2F127.0.0.1:1']) {
      const res = await fetch(`${server.url}${path}`, { redirect: 'manual' });
      const location = res.headers.get('location');
      if (location !== null) expect(new URL(location, server.url).origin, path).toBe(server.url);
    }
  });

  it('another site cannot make a signed-in browser deploy, mint a token or stop the server, nor frame the page', async () => {
    const dashboard = await signedIn('#/');
    const requested: string[] = [];
    browser.on('request', (r) => requested.push(r.url()));
    const api = server.url;
    attackPage = `<!doctype html><body>
<iframe name="sink"></iframe><iframe id="framed" src="${api}/ui/"></iframe>
<form id="f" method="POST" action="${api}/api/shutdown" enctype="text/plain" target="sink"><input name='{"stopInstances":true,"x":"' value='"}'></form>
<script>
(async () => {
  const results = [];
  const tryIt = async (what, p) => { try { const r = await p; results.push(what + ' ' + r.type + ' ' + r.status); } catch (e) { results.push(what + ' failed'); } };
  document.getElementById('f').submit();
  await tryIt('token no-cors', fetch('${api}/api/tokens', { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ user: 'mallory', role: 'admin' }) }));
  await tryIt('rollback no-cors', fetch('${api}/api/environments/hostile%2Fstaging/rollback', { method: 'POST', mode: 'no-cors', credentials: 'include', body: '{}' }));
  await tryIt('shutdown cors', fetch('${api}/api/shutdown', { method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' }, body: '{}' }));
  await tryIt('whoami read', fetch('${api}/api/whoami', { credentials: 'include' }));
  document.title = 'done: ' + results.join(' | ');
})();
</script></body>`;
    const attackTab = await browser.newPage();
    onTestFinished(() => attackTab.close());
    await attackTab.goto(`${attackOrigin}/`);
    await attackTab.waitForFunction("document.title.startsWith('done')");
    const title = await attackTab.title();
    // Nothing could be read, and what went out carried no credential: 401s the page cannot even see.
    expect(title).not.toMatch(/cors 2\d\d|basic 2\d\d/);
    await attackTab.waitForTimeout(500);

    // The page framed by another site shows nothing of the dashboard.
    const framed = attackTab.frames().find((f) => f !== attackTab.mainFrame() && f.name() !== 'sink');
    expect(framed?.url()).toBe('chrome-error://chromewebdata/');

    // Still up, no token minted, nothing done in anyone's name.
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const tokens = (await (await apiFetch(`${server.url}/api/tokens`)).json()) as { tokens: Array<{ user: string }> };
    expect(tokens.tokens.map((t) => t.user)).not.toContain('mallory');
    const audit = (await (await apiFetch(`${server.url}/api/audit?limit=100000`)).json()) as { entries: Array<{ action: string; outcome: string }> };
    expect(audit.entries.filter((e) => ['server.shutdown', 'rollback'].includes(e.action) || (e.action === 'token.create' && e.outcome !== 'ok'))).toEqual([]);

    // The signed-in tab still works, and its token was never in a URL, local storage or the server's log.
    await dashboard.reload();
    await dashboard.getByTestId('who').waitFor();
    const secret = token.split('_').pop()!;
    expect(requested.filter((u) => u.includes(secret))).toEqual([]);
    expect(await dashboard.evaluate<string>('JSON.stringify({ ...localStorage })')).not.toContain(secret);
    expect(readFileSync(join(work, 'server.log'), 'utf8')).not.toContain(secret);
    expect(dialogs).toEqual([]);
  });
});
