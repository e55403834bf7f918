// Issue 22: `slipway server stop` stops the server and leaves its instances and
// router serving (the next server adopts them); `--all` stops those too, so that
// no process of the data directory is left: none whose command line or working
// directory points into it. Real server, router, instances and log relays.

import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, isPidAlive, liveInstanceRows, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type ServerProcess } from './support/harness.ts';

/** Pids of live processes whose command line or working directory names `dir`. */
function processesOf(dir: string): { pid: number; cmd: string }[] {
  const found: { pid: number; cmd: string }[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0').join(' ');
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${e}/cwd`);
      } catch {
        // another user's process: its command line still tells
      }
      if ((cmd.includes(dir) || cwd.startsWith(dir)) && isPidAlive(Number(e))) found.push({ pid: Number(e), cmd });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

async function answersOn(port: number): Promise<boolean> {
  try {
    const res = await request(`http://127.0.0.1:${port}/`, { headersTimeout: 2000 });
    await res.body.dump();
    return res.statusCode === 200;
  } catch {
    return false;
  }
}

describe('slipway server stop', { timeout: 180_000 }, () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess | null = null;
  let port: number;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir, timeoutMs: 150_000 });

  beforeAll(async () => {
    work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    port = await freePort();
    writeService(app, { envs: { staging: { instances: 2, port } } });
    server = await startServerProcess(dataDir);
    const r = await cli('deploy', 'staging');
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('without --all stops the server alone: the instances keep serving and the next server adopts them', async () => {
    const pids = liveInstanceRows(dataDir).map((i) => i.pid!);
    expect(pids).toHaveLength(2);
    const r = await cli('server', 'stop');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/stopped the server \(pid \d+\); instances and the router keep serving/);
    expect(isPidAlive(server!.pid)).toBe(false);
    expect(await answersOn(port)).toBe(true);
    expect(pids.every(isPidAlive)).toBe(true);

    server = await startServerProcess(dataDir, 'server-2.log');
    const st = await cli('--json', 'status', 'staging');
    expect((JSON.parse(st.stdout) as { instances: { pid: number }[] }).instances.map((i) => i.pid).sort()).toEqual([...pids].sort());
  });

  it('--all leaves no process of the data directory: server, router, instances and log relays all end', async () => {
    const before = processesOf(dataDir);
    // The router, two instances and their log relays at least (the server's command line names it too).
    expect(before.length).toBeGreaterThanOrEqual(5);
    const r = await cli('--json', 'server', 'stop', '--all');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ stopped: true, all: true, dataDir });
    // The command returns once the server, the router and every instance have ended; a
    // log relay ends when its instance's pipes close, a moment after: 3 s at most.
    for (let i = 0; i < 30 && processesOf(dataDir).length > 0; i++) await new Promise((res) => setTimeout(res, 100));
    expect(processesOf(dataDir)).toEqual([]);
    expect(await answersOn(port)).toBe(false);
    expect(liveInstanceRows(dataDir)).toEqual([]);
    server = null;

    const again = await cli('--json', 'server', 'stop');
    expect(again.code).toBe(1);
    expect((JSON.parse(again.stdout) as { error: { code: string } }).error.code).toBe('E_SERVER_UNREACHABLE');
  });
});
