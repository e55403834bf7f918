// Bad input as a new user meets it, through the real CLI: each refusal is precise,
// has no stack trace, answers in JSON under --json, and exits non-zero.

import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import { BIN, freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';

const GOOD = 'service: hello\nrun:\n  command: node server.js\nenvironments:\n  staging:\n    listen: 127.0.0.1:12999\n';
const STACK_LINE = /\n\s+at .+:\d+:\d+\)?\n/;

describe('bad input to the slipway command', () => {
  const dir = scratchDir('slipway-bad-input-');
  const dataDir = join(dir, '.slipway');
  const cli = (...args: string[]) => runCli(args, { cwd: dir, dataDir });
  writeFileSync(join(dir, 'server.js'), '');
  writeFileSync(join(dir, 'slipway.yaml'), GOOD);
  mkdirSync(join(dir, 'conf'));

  it('a directory given as the config file is named, with no stack trace', async () => {
    for (const args of [['validate', '-f', 'conf'], ['plan', 'staging', '-f', 'conf'], ['deploy', 'staging', '-f', 'conf']]) {
      const r = await cli(...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toMatch(/E_CONFIG_NOT_FOUND\] .*conf is a directory; pass the path of your slipway\.yaml/);
      expect(r.stderr).not.toMatch(STACK_LINE);
    }
  });

  it('a server whose data directory cannot be made says which flag to change, with no stack trace', async () => {
    const file = join(dir, 'server.js');
    const r = await runCli(['server', '--listen', '127.0.0.1:0'], { cwd: dir, dataDir: file });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_BAD_REQUEST\] --data-dir .*server\.js cannot be used: EEXIST.*; give a directory this user can create and write/);
    expect(r.stderr).not.toMatch(STACK_LINE);
    const j = await runCli(['--json', 'server', '--listen', '127.0.0.1:0'], { cwd: dir, dataDir: file });
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout)).toMatchObject({ error: { code: 'E_BAD_REQUEST', details: { field: 'dataDir' } } });
  });

  it('validate refuses a slipway.yaml with bytes that are not UTF-8, at the first of them', async () => {
    const bytes = Buffer.concat([Buffer.from('service: hello\nrun:\n  command: node s'), Buffer.from([0xff, 0xfe]), Buffer.from('.js\nenvironments:\n  staging: {listen: 12999}\n')]);
    writeFileSync(join(dir, 'latin.yaml'), bytes);
    const r = await cli('validate', '-f', 'latin.yaml');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^latin\.yaml:3:18 run\.command: this is not UTF-8 text/m);
  });

  it('with --json, a refused flag, argument or command is one JSON document on stdout', async () => {
    const cases: [string[], RegExp][] = [
      [['--json', 'deploy', '--bogus'], /^unknown option '--bogus'$/],
      [['deploy', '--json'], /^missing required argument 'env'$/],
      [['--json', 'rollback', 'staging', '--to'], /^option '--to <number>' argument missing$/],
      [['--json', 'rollback', 'staging', '--to', '-1'], /argument '-1' is invalid\. expected a positive whole number$/],
      [['--json', 'deplyo'], /^unknown command 'deplyo' \(Did you mean deploy\?\)$/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(...args);
      expect(r.code, args.join(' ')).toBe(1);
      const out = JSON.parse(r.stdout) as { error: { code: string; message: string } };
      expect(out.error.code, args.join(' ')).toBe('E_BAD_REQUEST');
      expect(out.error.message, args.join(' ')).toMatch(message);
    }
    // Without --json: on stderr with its code, as every other error, then the usage.
    const text = await cli('deploy', '--bogus');
    expect(text.code).toBe(1);
    expect(text.stdout).toBe('');
    expect(text.stderr).toMatch(/^error \[E_BAD_REQUEST\] unknown option '--bogus'\n[\s\S]*Usage: slipway deploy/);
  });

  it('a count flag takes digits only: not 10x, 1e3, 0x10, or a number too large to be exact', async () => {
    for (const bad of ['10x', 'abc', '1e3', '0x10', '-5', '0', '99999999999999999999']) {
      const commands = [['runs', 'list', '--limit', bad], ['rollback', 'staging', '--to', bad], ['logs', 'staging', '-n', bad], ['audit', '-n', bad], ['watch-branch', '--max-runs', bad]];
      const results = await Promise.all(commands.map((args) => cli(...args)));
      results.forEach((r, i) => {
        expect(r.code, commands[i]!.join(' ')).toBe(1);
        expect(r.stderr, commands[i]!.join(' ')).toContain('expected a positive whole number');
      });
    }
  });

  it("every command's --help lists the options it takes from the top, --json among them", async () => {
    for (const args of [['deploy', '--help'], ['config', 'set', '--help'], ['token', 'create', '--help']]) {
      const r = await cli(...args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout, args.join(' ')).toMatch(/Global Options:[\s\S]*--server <url>[\s\S]*--token <token>[\s\S]*--json/);
    }
  });

  it('--server that is not a URL is named as the mistake, not as an unreachable server', async () => {
    for (const server of ['localhost:7070', 'notaurl']) {
      const r = await cli('--server', server, 'status');
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`E_BAD_REQUEST] --server must be the server's URL, e.g. http://127.0.0.1:7070, not "${server}"`);
    }
  });
});

describe('Ctrl-C in the middle of a deploy', () => {
  const work = scratchDir('slipway-interrupt-');
  const app = join(work, 'hello');
  const dataDir = join(work, '.slipway');
  let server: ServerProcess | undefined;

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('says the rollout goes on on the server, exits 130, and the rollout ends as it would have', async () => {
    writeService(app, { envs: { staging: { instances: 2, port: await freePort() } } });
    server = await startServerProcess(dataDir, 'server.log', process.env, `127.0.0.1:${await freePort()}`);
    const child = spawn(process.execPath, [BIN, '--data-dir', dataDir, 'deploy', 'staging'], { cwd: app, env: { ...process.env, NO_COLOR: '1', SLIPWAY_SERVER: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await waitFor('the rollout to start', () => /rollout started/.test(stdout), 60_000);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    const id = /rollout #(\d+)/.exec(stdout)?.[1];
    expect(stderr).toContain(`interrupted: slipway stopped waiting. rollout #${id} goes on at the server and runs to its end: \`slipway status staging\` shows it, \`slipway abort staging\` stops it.`);
    // Nothing was lost or left half-done: the server finished the rollout by itself.
    const url = `${server.url}/api/environments/hello%2Fstaging`;
    await waitFor('the rollout to succeed', async () => (await getJson<EnvironmentStatus>(url)).lastRollout?.phase === 'succeeded', 60_000);
    const s = await getJson<EnvironmentStatus>(url);
    expect(s.rollout).toBeNull();
    expect(s.instances.filter((i) => i.state === 'ready')).toHaveLength(2);
  }, 120_000);
});
