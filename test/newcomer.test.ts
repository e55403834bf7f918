// What a newcomer's service needs to deploy as it is (issue 22), on real processes:
// a program that takes its port only as a flag (`--port ${PORT}`), and a command
// that names a tool of the release's own node_modules/.bin, as an npm script would.
// An environment's data directory (SLIPWAY_APP_DATA) outlives a deploy and a
// rollback. And a static site, from `slipway init` to answering, with nothing edited but its
// listen address. One server holds every service of this file, each with an environment of its own.

import { chmodSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runCli, scratchDir, shutdownEverything, startServerProcess, type ServerProcess } from './support/harness.ts';

// Listens only where --port says; PORT in its environment is ignored on purpose.
const FLAG_ONLY_APP = `
import http from 'node:http';
const i = process.argv.indexOf('--port');
const port = Number(process.argv[i + 1]);
if (i < 0 || !Number.isInteger(port)) { console.error('usage: app.js --port N, got', process.argv.slice(2)); process.exit(2); }
http.createServer((req, res) => res.end(req.url === '/healthz' ? 'ok' : 'flag port ' + port)).listen(port, '127.0.0.1');
`;

// A json-server-like store: POST appends to db.json in SLIPWAY_APP_DATA, GET reads it.
const STORE_APP = `
import http from 'node:http';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
const db = join(process.env.SLIPWAY_APP_DATA, 'db.json');
const read = () => { try { return readFileSync(db, 'utf8').split('\\n').filter(Boolean).map((l) => JSON.parse(l)); } catch { return []; } };
http.createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok');
  if (req.method === 'POST') {
    let body = '';
    req.on('data', (c) => (body += c));
    return req.on('end', () => { appendFileSync(db, JSON.stringify({ item: body, by: process.env.SLIPWAY_RELEASE }) + '\\n'); res.end('stored'); });
  }
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ version: process.env.VERSION, dataDir: process.env.SLIPWAY_APP_DATA, cwd: process.cwd(), items: read() }));
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

// A stand-in for json-server: a package's bin, reached only through node_modules/.bin.
const TOOL_BIN = `#!/usr/bin/env node
import http from 'node:http';
http.createServer((req, res) => res.end(req.url === '/healthz' ? 'ok' : 'tool serving ' + process.argv[2])).listen(Number(process.env.PORT), '127.0.0.1');
`;

function serviceYaml(o: { service: string; command: string; env: string; port: number; extra?: string }): string {
  return [
    `service: ${o.service}`,
    'run:',
    `  command: ${o.command}`,
    'health: { path: /healthz, interval: 200ms, timeout: 1s, healthy_threshold: 1, start_deadline: 10s }',
    'shutdown: { drain_timeout: 1s, kill_timeout: 2s }',
    'environments:',
    `  ${o.env}:`,
    '    instances: 1',
    `    listen: 127.0.0.1:${o.port}`,
    ...(o.extra ? [o.extra] : []),
    '',
  ].join('\n');
}

describe('a newcomer\'s service deploys as it is', () => {
  let work: string;
  let dataDir: string;
  let server: ServerProcess;
  const cli = (cwd: string, ...args: string[]) => runCli(args, { cwd, dataDir, timeoutMs: 60_000 });

  beforeAll(async () => {
    work = scratchDir();
    dataDir = join(work, '.slipway');
    server = await startServerProcess(dataDir);
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('an app that takes its port only as a flag (--port ${PORT}) deploys and answers', async () => {
    const dir = join(work, 'flag-app');
    mkdirSync(dir);
    writeFileSync(join(dir, 'app.js'), FLAG_ONLY_APP);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'flag-app', version: '1.0.0', type: 'module' }));
    const port = await freePort();
    writeFileSync(join(dir, 'slipway.yaml'), serviceYaml({ service: 'flag-app', command: 'node app.js --port ${PORT}', env: 'flagged', port }));
    const r = await cli(dir, 'deploy', 'flagged');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const body = await (await fetch(`http://127.0.0.1:${port}/`)).text();
    // The instance's own port (not the listener's) reached the program as its argument.
    expect(body).toMatch(/^flag port \d+$/);
    expect(body).not.toBe(`flag port ${port}`);
  });

  it('a bare command name is found in the release\'s own node_modules/.bin, as in an npm script', async () => {
    const dir = join(work, 'tool-app');
    mkdirSync(join(dir, 'node_modules', 'tiny-tool'), { recursive: true });
    mkdirSync(join(dir, 'node_modules', '.bin'));
    writeFileSync(join(dir, 'node_modules', 'tiny-tool', 'package.json'), JSON.stringify({ name: 'tiny-tool', version: '1.0.0', type: 'module', bin: { 'tiny-tool': 'cli.js' } }));
    writeFileSync(join(dir, 'node_modules', 'tiny-tool', 'cli.js'), TOOL_BIN);
    chmodSync(join(dir, 'node_modules', 'tiny-tool', 'cli.js'), 0o755);
    symlinkSync('../tiny-tool/cli.js', join(dir, 'node_modules', '.bin', 'tiny-tool'));
    writeFileSync(join(dir, 'db.json'), '{}');
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'tool-app', version: '1.0.0' }));
    const port = await freePort();
    writeFileSync(join(dir, 'slipway.yaml'), serviceYaml({ service: 'tool-app', command: 'tiny-tool db.json', env: 'tooled', port }));
    const r = await cli(dir, 'deploy', 'tooled');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('tool serving db.json');
  });

  it('a static site deploys with the slipway.yaml that init wrote for it', async () => {
    const dir = join(work, 'site');
    mkdirSync(dir);
    writeFileSync(join(dir, 'index.html'), '<h1>hello from a static site</h1>');
    const init = await cli(dir, 'init');
    expect(init.code, init.stderr).toBe(0);
    const port = await freePort();
    // Only the listen addresses change: the defaults (8080, 8081) may be taken on a shared machine.
    writeFileSync(join(dir, 'slipway.yaml'), readFileSync(join(dir, 'slipway.yaml'), 'utf8').replace('127.0.0.1:8081', `127.0.0.1:${port}`).replace('127.0.0.1:8080', `127.0.0.1:${await freePort()}`));
    const r = await cli(dir, 'deploy', 'staging');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('<h1>hello from a static site</h1>');
  });

  it('data written to SLIPWAY_APP_DATA is still there after a deploy of v2 and a rollback', async () => {
    const dir = join(work, 'store');
    mkdirSync(dir);
    writeFileSync(join(dir, 'app.js'), STORE_APP);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'store', version: '1.0.0', type: 'module' }));
    const port = await freePort();
    const yaml = (version: string) => serviceYaml({ service: 'store', command: 'node app.js', env: 'kept', port, extra: `    config: { VERSION: "${version}" }` });
    interface Answer { version: string; dataDir: string; cwd: string; items: { item: string; by: string }[] }
    const get = async () => (await (await fetch(`http://127.0.0.1:${port}/`)).json()) as Answer;
    writeFileSync(join(dir, 'slipway.yaml'), yaml('v1'));
    const v1 = await cli(dir, 'deploy', 'kept');
    expect(v1.code, v1.stdout + v1.stderr).toBe(0);
    expect(await (await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: 'written by v1' })).text()).toBe('stored');
    const first = await get();
    expect(first.dataDir).toBe(join(dataDir, 'app-data', 'store', 'kept'));
    expect(first.cwd.startsWith(join(dataDir, 'releases'))).toBe(true);

    writeFileSync(join(dir, 'slipway.yaml'), yaml('v2'));
    const v2 = await cli(dir, 'deploy', 'kept');
    expect(v2.code, v2.stdout + v2.stderr).toBe(0);
    const second = await get();
    expect(second.version).toBe('v2');
    expect(second.cwd).not.toBe(first.cwd);
    expect(second.items).toEqual([{ item: 'written by v1', by: '1' }]);
    await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: 'written by v2' });

    const back = await cli(dir, 'rollback', 'kept');
    expect(back.code, back.stdout + back.stderr).toBe(0);
    const rolled = await get();
    expect(rolled.version).toBe('v1');
    expect(rolled.dataDir).toBe(first.dataDir);
    expect(rolled.items.map((i) => i.item)).toEqual(['written by v1', 'written by v2']);
    // A restarted server tightens the data directory; the running instance can still reach its own.
    await server.stop();
    server = await startServerProcess(dataDir, 'server-2.log');
    expect((await get()).items.map((i) => i.item)).toEqual(['written by v1', 'written by v2']);
    if (process.getuid?.() === 0) {
      // The environment's own user owns it, and nobody else may enter it.
      const st = statSync(first.dataDir);
      expect(st.uid).not.toBe(0);
      expect(st.mode & 0o777).toBe(0o700);
      expect(statSync(join(first.dataDir, 'db.json')).uid).toBe(st.uid);
    }
  });
});
