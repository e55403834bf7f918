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

  const page = (headers: Record<string, string> = {}) => fetch(`http://127.0.0.1:${port}/page.html`, { headers });

  beforeAll(async () => {
    port = await freePort();
    mkdirSync(join(app, 'public'), { recursive: true });
    writeFileSync(join(app, 'server.js'), SERVER_JS);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'times', version: '1.0.0' }));
    writeFileSync(join(app, 'public', 'page.html'), '<h1>v1 hello</h1>\n');
    writeService(app, { service: 'times', envs: { staging: { instances: 2, port } } });
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
});

