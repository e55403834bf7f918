// The DATABASE_URL a newcomer's service needs, set with the CLI: it reaches the
// instance, and its value shows in no log, CLI answer or audit entry, even though
// the service prints it at start. Typed as an argument by mistake
// (`slipway secret set staging DATABASE_URL postgres://...`), it was refused as
// "too many arguments" with the whole usage and no word of why; it is now refused
// as a secret on the command line, and the user is told it sits in their shell history.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type ServerProcess } from './support/harness.ts';

const APP = `
import http from 'node:http';
const url = process.env.DATABASE_URL || '';
console.log('connecting to ' + url);
// What a database driver's debug line shows: the URL's parts, the password decoded.
if (url) { const u = new URL(url); console.log(JSON.stringify({ db: { host: u.hostname, user: u.username, password: decodeURIComponent(u.password) } })); }
http.createServer((req, res) => res.end(req.url === '/healthz' ? 'ok' : url ? 'db host ' + new URL(url).hostname : 'no db')).listen(Number(process.env.PORT), '127.0.0.1');
`;

const VALUE = 'postgres://orders:k7Qz9v%40LmW2xP@db.internal:5432/orders';

describe('a DATABASE_URL set with the CLI', () => {
  const work = scratchDir('slipway-newcomer-secret-');
  const app = join(work, 'orders');
  const dataDir = join(work, '.slipway');
  let server: ServerProcess | null = null;
  let port = 0;
  const cli = (args: string[], input?: string) => runCli(args, { cwd: app, dataDir, input, timeoutMs: 60_000 });

  beforeAll(async () => {
    port = await freePort();
    writeService(app, { service: 'orders', envs: { staging: { instances: 1, port } } });
    writeFileSync(join(app, 'server.js'), APP);
    server = await startServerProcess(dataDir);
    const d = await cli(['deploy', 'staging']);
    expect(d.code, d.stdout + d.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  }, 60_000);

  it('given as an argument, it is refused as a secret on the command line, unechoed, and nothing is set', async () => {
    const r = await cli(['secret', 'set', 'staging', 'DATABASE_URL', VALUE]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('secret values are never taken from the command line');
    expect(r.stderr).toContain("in your shell's history now: if it was the secret, rotate it");
    expect(r.stderr).toContain('printf %s "$VALUE" | slipway secret set staging DATABASE_URL');
    // Said as what it is, not as a usage mistake followed by the whole usage.
    expect(r.stderr).not.toContain('Usage:');
    expect(r.stdout + r.stderr).not.toContain('k7Qz9v%40LmW2xP');
    const list = await cli(['--json', 'secret', 'list', 'staging']);
    expect(list.stdout).not.toContain('DATABASE_URL');
  });

  it('piped in, it reaches the instance and its value is in no log, answer or audit entry', async () => {
    const set = await cli(['secret', 'set', 'staging', 'DATABASE_URL'], VALUE);
    expect(set.code, set.stdout + set.stderr).toBe(0);
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('db host db.internal');
    const seen = [set.stdout, set.stderr];
    for (const args of [['logs', 'staging'], ['--json', 'logs', 'staging'], ['config', 'list', 'staging'], ['--json', 'status', 'staging'], ['--json', 'audit'], ['--json', 'releases', 'staging'], ['config', 'history', 'staging']]) {
      const r = await cli(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      seen.push(r.stdout, r.stderr);
    }
    const all = seen.join('\n');
    expect(all).toContain('connecting to ***');
    // The password alone, as the driver line prints it (decoded), is masked too; the host is not.
    expect(all).toContain('db.internal');
    expect(all).not.toContain('k7Qz9v@LmW2xP');
    expect(all).not.toContain('k7Qz9v%40LmW2xP');
  }, 90_000);
});
