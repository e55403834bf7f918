// A release's files carry the time it was unpacked, not the artefact's fixed 1980
// (deterministic tars): static-file servers answer conditional requests from mtime
// and size, and with every release at 1980 a browser that had the old page got
// `304 Not Modified` after a deploy and kept it (express.static did exactly that
// for a same-size edit, seen by hand).

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type ServerProcess } from './support/harness.ts';

// What serve-static and most file servers do: Last-Modified from mtime, a weak ETag
// from size and mtime, 304 when either condition says the client's copy is current.
const SERVER_JS = `
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
http.createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  const file = path.join(__dirname, 'public', 'page.html');
  const st = fs.statSync(file);
  const lastModified = st.mtime.toUTCString();
  const etag = 'W/"' + st.size.toString(16) + '-' + st.mtimeMs.toString(16) + '"';
  res.setHeader('last-modified', lastModified);
  res.setHeader('etag', etag);
  res.setHeader('x-instance', String(process.pid));
  const inm = req.headers['if-none-match'];
  const ims = req.headers['if-modified-since'];
  const fresh = inm !== undefined ? inm === etag : ims !== undefined && Math.floor(st.mtimeMs / 1000) * 1000 <= Date.parse(ims);
  if (fresh) { res.statusCode = 304; return res.end(); }
  res.end(fs.readFileSync(file));
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

describe('release file times', () => {
  const work = scratchDir('slipway-file-times-');
  const app = join(work, 'app');
  const dataDir = join(work, '.slipway');
  let server: ServerProcess | null = null;
  let port = 0;
  let canaryPort = 0;

  const page = (headers: Record<string, string> = {}) => fetch(`http://127.0.0.1:${port}/page.html`, { headers });

  beforeAll(async () => {
    port = await freePort();
    mkdirSync(join(app, 'public'), { recursive: true });
    writeFileSync(join(app, 'server.js'), SERVER_JS);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'times', version: '1.0.0' }));
    writeFileSync(join(app, 'public', 'page.html'), '<h1>v1 hello</h1>\n');
    canaryPort = await freePort();
    writeService(app, {
      service: 'times',
      envs: { staging: { instances: 2, port }, canary: { instances: 2, port: canaryPort, strategyYaml: 'type: canary\nsteps:\n  - weight: 50\n  - pause: 5m' } },
    });
    server = await startServerProcess(dataDir);
  }, 120_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  }, 60_000);

  it('a same-size edit is not answered 304 to a client holding the old page, and every instance agrees', async () => {
    const d1 = await runCli(['deploy', 'staging'], { cwd: app, dataDir });
    expect(d1.code, d1.stdout + d1.stderr).toBe(0);

    // Both instances serve one tree: one Last-Modified and one ETag between them.
    const seen = new Map<string, string>();
    const instances = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const r = await page();
      expect(await r.text()).toBe('<h1>v1 hello</h1>\n');
      instances.add(r.headers.get('x-instance')!);
      seen.set(`${r.headers.get('last-modified')} ${r.headers.get('etag')}`, r.headers.get('x-instance')!);
    }
    expect(instances.size).toBe(2);
    expect(seen.size).toBe(1);
    const first = await page();
    const lastModified = first.headers.get('last-modified')!;
    const etag = first.headers.get('etag')!;
    expect(new Date(lastModified).getUTCFullYear()).toBeGreaterThan(2020);

    // Last-Modified counts whole seconds: the next release is unpacked in a later one.
    await new Promise((r) => setTimeout(r, 1100));
    writeFileSync(join(app, 'public', 'page.html'), '<h1>v2 hello</h1>\n');
    const d2 = await runCli(['deploy', 'staging'], { cwd: app, dataDir });
    expect(d2.code, d2.stdout + d2.stderr).toBe(0);

    const byEtag = await page({ 'if-none-match': etag });
    expect(byEtag.status).toBe(200);
    expect(await byEtag.text()).toBe('<h1>v2 hello</h1>\n');
    const byDate = await page({ 'if-modified-since': lastModified });
    expect(byDate.status).toBe(200);
    expect(await byDate.text()).toBe('<h1>v2 hello</h1>\n');
    // And a client already holding v2 still gets its 304.
    const current = await page();
    expect((await page({ 'if-none-match': current.headers.get('etag')! })).status).toBe(304);
  }, 120_000);

  it('a rollback, and a revert deployed as the old artefact, reach a client holding the newer page', async () => {
    const held = await page();
    expect(await held.text()).toBe('<h1>v2 hello</h1>\n');
    const v2Date = held.headers.get('last-modified')!;
    await new Promise((r) => setTimeout(r, 2100));
    // Back to v1's release: its tree was unpacked before v2's, and kept v1's times.
    const back = await runCli(['rollback', 'staging'], { cwd: app, dataDir });
    expect(back.code, back.stdout + back.stderr).toBe(0);
    const afterRollback = await page({ 'if-modified-since': v2Date });
    expect(afterRollback.status).toBe(200);
    expect(await afterRollback.text()).toBe('<h1>v1 hello</h1>\n');
    const v1Date = afterRollback.headers.get('last-modified')!;
    await new Promise((r) => setTimeout(r, 1100));

    // Forward to v2 again (a new release of v2's artefact, whose tree is there): a
    // client holding the rolled-back v1 page gets v2's, not a 304.
    const v2Again = await runCli(['deploy', 'staging', '--force'], { cwd: app, dataDir });
    expect(v2Again.code, v2Again.stdout + v2Again.stderr).toBe(0);
    const forward = await page({ 'if-modified-since': v1Date });
    expect(forward.status).toBe(200);
    expect(await forward.text()).toBe('<h1>v2 hello</h1>\n');
    // Then a revert: v1's bytes again, the same artefact as v1, deployed as a new release.
    const heldAgain = await page();
    expect(await heldAgain.text()).toBe('<h1>v2 hello</h1>\n');
    const v2DateAgain = heldAgain.headers.get('last-modified')!;
    await new Promise((r) => setTimeout(r, 2100));
    writeFileSync(join(app, 'public', 'page.html'), '<h1>v1 hello</h1>\n');
    const revert = await runCli(['deploy', 'staging'], { cwd: app, dataDir });
    expect(revert.code, revert.stdout + revert.stderr).toBe(0);
    const afterRevert = await page({ 'if-modified-since': v2DateAgain });
    expect(afterRevert.status).toBe(200);
    expect(await afterRevert.text()).toBe('<h1>v1 hello</h1>\n');
  }, 120_000);

  it("an aborted canary's clients are sent back to the stable page, not told theirs is current", async () => {
    const canaryPage = (headers: Record<string, string> = {}) => fetch(`http://127.0.0.1:${canaryPort}/page.html`, { headers });
    const first = await runCli(['deploy', 'canary'], { cwd: app, dataDir });
    expect(first.code, first.stdout + first.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, 2100));
    writeFileSync(join(app, 'public', 'page.html'), '<h1>v3 hello</h1>\n');
    const d = await runCli(['deploy', 'canary', '--detach'], { cwd: app, dataDir });
    expect(d.code, d.stdout + d.stderr).toBe(0);
    // Half the requests reach the canary once it is up: a client gets its page.
    let canaryDate = '';
    for (let i = 0; i < 300 && !canaryDate; i++) {
      const r = await canaryPage();
      if ((await r.text()) === '<h1>v3 hello</h1>\n') canaryDate = r.headers.get('last-modified')!;
      else await new Promise((res) => setTimeout(res, 100));
    }
    expect(canaryDate).not.toBe('');
    await new Promise((r) => setTimeout(r, 1100));
    const a = await runCli(['abort', 'canary', '--wait'], { cwd: app, dataDir });
    expect(a.code, a.stdout + a.stderr).toBe(0);
    const after = await canaryPage({ 'if-modified-since': canaryDate });
    expect(after.status).toBe(200);
    expect(await after.text()).toBe('<h1>v1 hello</h1>\n');
  }, 120_000);
});

