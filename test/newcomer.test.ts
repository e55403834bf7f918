// What a newcomer's service needs to deploy as it is (issue 22), on real processes:
// a program that takes its port only as a flag (`--port ${PORT}`), and a command
// that names a tool of the release's own node_modules/.bin, as an npm script would.
// And a static site, from `slipway init` to answering, with nothing edited but its
// listen address. One server holds every service of this file, each with an environment of its own.

import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
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
});
