// `slipway server unit` prints the systemd unit that runs the server on a host.
// Here its ExecStart runs as systemd would run it (no shell; systemd's quoting) in
// its WorkingDirectory, and a stop is what KillMode=process makes of one: SIGTERM
// to the server's own process only. Through that stop and a start, the service
// keeps answering: the unit must never take the router and instances down with the
// server (systemd's default, KillMode=control-group, would).

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminToken, freePort, registerApiToken, runCli, scratchDir, shutdownEverything, writeService } from './support/harness.ts';

/** ExecStart= split as systemd splits it: blanks separate, double quotes group, backslash escapes; %% and $$ are one. */
function systemdWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let quoted = false;
  let started = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\') {
      word += line[++i] ?? '';
      started = true;
    } else if (c === '"') {
      quoted = !quoted;
      started = true;
    } else if (/\s/.test(c) && !quoted) {
      if (started) words.push(word);
      word = '';
      started = false;
    } else {
      word += c;
      started = true;
    }
  }
  if (started) words.push(word);
  return words.map((w) => w.replace(/%%/g, '%').replace(/\$\$/g, '$'));
}

function setting(unit: string, key: string): string {
  const line = unit.split('\n').find((l) => l.startsWith(`${key}=`));
  if (line === undefined) throw new Error(`the unit has no ${key}=:\n${unit}`);
  return line.slice(key.length + 1);
}

describe('slipway server unit', () => {
  // A blank in the path: the unit must quote it as systemd reads quotes.
  const work = join(scratchDir('slipway-unit-'), 'my host');
  const dataDir = join(work, '.slipway');
  const app = join(work, 'shop');
  let unit = '';
  let apiPort = 0;
  let appPort = 0;
  let server: ChildProcess | null = null;

  /** The unit's ExecStart, started as systemd starts it; resolves once the server answers. */
  async function startAsSystemd(): Promise<ChildProcess> {
    const [file, ...args] = systemdWords(setting(unit, 'ExecStart'));
    const child = spawn(file!, args, { cwd: setting(unit, 'WorkingDirectory').replace(/%%/g, '%'), stdio: 'ignore' });
    for (let i = 0; i < 600; i++) {
      const info = join(dataDir, 'server.json');
      if (existsSync(info) && (JSON.parse(readFileSync(info, 'utf8')) as { pid: number }).pid === child.pid) {
        registerApiToken((JSON.parse(readFileSync(info, 'utf8')) as { url: string }).url, adminToken(dataDir)!);
        return child;
      }
      if (child.exitCode !== null) throw new Error(`the unit's server exited ${child.exitCode}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('the unit\'s server did not start in 60 s');
  }

  /** KillMode=process: SIGTERM to the main process only, and wait for it to end. */
  async function stopAsSystemd(child: ChildProcess): Promise<void> {
    const ended = new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));
    child.kill('SIGTERM');
    await ended;
  }

  beforeAll(async () => {
    mkdirSync(app, { recursive: true });
    apiPort = await freePort();
    appPort = await freePort();
    writeService(app, { service: 'shop', envs: { production: { instances: 1, port: appPort } } });
    const r = await runCli(['server', '--listen', `127.0.0.1:${apiPort}`, 'unit'], { cwd: app, dataDir });
    expect(r.code, r.stderr).toBe(0);
    unit = r.stdout;
  });

  afterAll(async () => {
    if (server) await stopAsSystemd(server);
    server = null;
    await shutdownEverything(null, dataDir);
  }, 60_000);

  it('stops only the server\'s own process, restarts it always, and runs this slipway on this data directory', () => {
    expect(setting(unit, 'KillMode')).toBe('process');
    expect(setting(unit, 'Restart')).toBe('always');
    expect(setting(unit, 'WantedBy')).toBe('multi-user.target');
    const words = systemdWords(setting(unit, 'ExecStart'));
    expect(words.slice(2)).toEqual(['--data-dir', dataDir, 'server', '--listen', `127.0.0.1:${apiPort}`, '--log-format', 'json']);
    expect(words[0]).toBe(process.execPath);
  });

  it('its ExecStart runs the server; a stop and a start as systemd makes them drop no request', async () => {
    server = await startAsSystemd();
    const d = await runCli(['deploy', 'production'], { cwd: app, dataDir });
    expect(d.code, d.stdout + d.stderr).toBe(0);

    let sent = 0;
    const failures: string[] = [];
    let going = true;
    const load = (async () => {
      while (going) {
        sent++;
        try {
          const res = await fetch(`http://127.0.0.1:${appPort}/`, { signal: AbortSignal.timeout(5000) });
          if (res.status !== 200) failures.push(`HTTP ${res.status}`);
          await res.arrayBuffer();
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
    })();

    await stopAsSystemd(server);
    server = null;
    // The server is gone; the service is not.
    const meanwhile = await fetch(`http://127.0.0.1:${appPort}/`);
    expect(meanwhile.status).toBe(200);
    server = await startAsSystemd();
    const s = await runCli(['--json', 'status', 'production'], { cwd: app, dataDir });
    expect(s.code, s.stderr).toBe(0);
    await new Promise((r) => setTimeout(r, 500));
    going = false;
    await load;
    expect(sent).toBeGreaterThan(20);
    expect(failures).toEqual([]);
  }, 120_000);
});
