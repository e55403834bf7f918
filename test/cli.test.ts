// The CLI as a user meets it: init, validate, help, and precise errors that change nothing.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, scratchDir } from './support/harness.ts';

describe('the slipway command', () => {
  const dir = scratchDir('slipway-cli-');
  const dataDir = join(dir, '.slipway');
  const cli = (...args: string[]) => runCli(args, { cwd: dir, dataDir });

  it('init writes a commented slipway.yaml that validates, and refuses to overwrite it', async () => {
    const a = await cli('init', '--service', 'shop', '--command', 'node app.js');
    expect(a.code, a.stderr).toBe(0);
    const text = readFileSync(join(dir, 'slipway.yaml'), 'utf8');
    expect(text).toMatch(/^service: shop$/m);
    expect(text).toMatch(/#/);
    const v = await cli('validate');
    expect(v.code, v.stdout + v.stderr).toBe(0);
    expect(v.stdout).toMatch(/ok slipway\.yaml: service shop/);
    const again = await cli('init');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists here; use --force/);
  });

  it('validate --json lists every problem with file, line, column and path', async () => {
    writeFileSync(join(dir, 'bad.yaml'), 'service: Shop\nrun:\n  comand: node app.js\nenvironments: {}\n');
    const v = await cli('--json', 'validate', '--file', 'bad.yaml');
    expect(v.code).toBe(1);
    const out = JSON.parse(v.stdout) as { ok: boolean; issues: { line: number; col: number; path: string; message: string }[] };
    expect(out.ok).toBe(false);
    expect(out.issues.map((i) => `${i.line}:${i.col} ${i.path}`)).toEqual(expect.arrayContaining(['1:10 service', '3:3 run.comand']));
    expect(out.issues.find((i) => i.path === 'run.comand')?.message).toMatch(/did you mean "command"/);
    // As text, it says the program check is still to come.
    const text = await cli('validate', '--file', 'bad.yaml');
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/bad\.yaml:3:3 .*run\.comand/);
    expect(text.stdout).toContain("run.command's program is looked for once these are fixed");
  });

  it('--help names every command; an unknown command or a bad flag is refused', async () => {
    const h = await cli('--help');
    expect(h.code).toBe(0);
    for (const c of ['init', 'validate', 'server', 'deploy', 'status', 'releases', 'rollback', 'logs', 'pause', 'resume', 'promote', 'abort', 'demo']) {
      expect(h.stdout).toMatch(new RegExp(`\\n  ${c}\\b`));
    }
    const u = await cli('deplyo', 'staging');
    expect(u.code).not.toBe(0);
    expect(u.stderr).toMatch(/unknown command 'deplyo'.*\n?.*Did you mean deploy/s);
    const bad = await cli('rollback', 'production', '--to', 'two');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/expected a positive whole number/);
  });

  it('--version prints the version, and with --json (either order) a JSON object of it', async () => {
    const plain = await cli('--version');
    expect(plain.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    for (const args of [['--json', '--version'], ['--version', '--json'], ['--data-dir', dataDir, '--json', '-V']]) {
      const r = await runCli(args, { cwd: dir, dataDir });
      expect(r.code, args.join(' ')).toBe(0);
      expect(JSON.parse(r.stdout), args.join(' ')).toEqual({ version: plain.stdout.trim() });
    }
  });

  it('commands that need a server say how to start one', async () => {
    const s = await cli('status');
    expect(s.code).toBe(1);
    expect(s.stderr).toMatch(/E_SERVER_UNREACHABLE.*start one with `slipway server`/);
    expect(existsSync(dataDir)).toBe(false); // nothing was created on the way
  });

  it('deploy names the environments a config has when asked for another', async () => {
    const d = await cli('deploy', 'qa');
    expect(d.code).toBe(1);
    expect(d.stderr).toMatch(/E_ENV_UNKNOWN.*no environment "qa"; it has: /);
  });
});
