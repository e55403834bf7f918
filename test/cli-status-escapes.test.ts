// What `slipway status` prints when a deployer's text carries terminal escapes: a
// maintenance message (as an older slipway stored it) with a window title (OSC 0), a screen clear and a carriage
// return reaches another operator's terminal as text, never as sequences it acts on;
// --json keeps it exact. (The analysis and watch reasons and the shadow examples go
// through the same escaping: src/cli/output.test.ts.)

import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnvironmentStatus } from '../src/api/views.ts';
import { freePort, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type ServerProcess } from './support/harness.ts';

const HOSTILE = '\x1b]0;owned\x07\x1b[2Jback soon\rspoof';

describe('slipway status and a message with terminal escapes', { timeout: 60_000 }, () => {
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir });

  beforeAll(async () => {
    const work = scratchDir();
    app = join(work, 'shop');
    dataDir = join(work, '.slipway');
    writeService(app, { service: 'shop', envs: { production: { instances: 1, port: await freePort() } } });
    server = await startServerProcess(dataDir);
    const d = await cli('deploy', 'production');
    expect(d.code, d.stdout + d.stderr).toBe(0);
    const m = await cli('maintenance', 'on', 'production', '--message', 'back soon');
    expect(m.code, m.stdout + m.stderr).toBe(0);
    // The API refuses such a message now; one an older slipway stored is still shown.
    const db = new Database(join(dataDir, 'state.db'));
    try {
      const key = 'maintenance:shop/production';
      const row = JSON.parse((db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string }).value) as Record<string, unknown>;
      db.prepare('UPDATE meta SET value = ? WHERE key = ?').run(JSON.stringify({ ...row, message: HOSTILE }), key);
    } finally {
      db.close();
    }
  }, 60_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('shows the message\'s escapes as text', async () => {
    const r = await cli('status', 'production');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('"\\x1b]0;owned\\x07\\x1b[2Jback soon\\x0dspoof"');
    // NO_COLOR is set: not one control character but line breaks reaches stdout.
    expect(r.stdout).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
  });

  it('keeps the message exact in --json output', async () => {
    const r = await cli('--json', 'status', 'production');
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as EnvironmentStatus).traffic?.maintenance?.message).toBe(HOSTILE);
  });
});
