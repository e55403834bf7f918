// The node binary the server runs on removed under it (a version manager's
// uninstall, an unpacked node replaced by a newer one): the next instance's log
// relay, started with that binary, cannot start. The server used to write the
// relay's masks into the pipe of a relay that never ran; the write failed (EPIPE),
// and that error, heard by no one, ended the server. Now the start fails with the
// reason, and the server stays up.

import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import { adminToken, apiFetch, BIN, freePort, getJson, registerApiToken, runCli, scratchDir, shutdownEverything, waitFor, writeService } from './support/harness.ts';

describe('an instance start after the server\'s node binary was removed', { timeout: 180_000 }, () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let url: string | null = null;
  let server: ReturnType<typeof spawn>;
  let node: string;

  beforeAll(async () => {
    work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, 'data');
    writeService(app, { envs: { staging: { instances: 1, port: await freePort() } } });
    node = join(work, 'node');
    copyFileSync(process.execPath, node);
    const log = openSync(join(work, 'server.log'), 'a');
    server = spawn(node, [BIN, '--data-dir', dataDir, 'server', '--listen', '127.0.0.1:0'], { stdio: ['ignore', log, log] });
    await waitFor('the server to start', () => {
      if (server.exitCode !== null) throw new Error(`server exited: ${readFileSync(join(work, 'server.log'), 'utf8').slice(-2000)}`);
      const file = join(dataDir, 'server.json');
      if (!existsSync(file)) return false;
      const info = JSON.parse(readFileSync(file, 'utf8')) as { url: string; pid: number };
      if (info.pid !== server.pid) return false;
      url = info.url;
      return true;
    }, 60_000);
    registerApiToken(url!, adminToken(dataDir)!);
  });

  afterAll(async () => {
    await shutdownEverything(url, dataDir);
    server?.kill('SIGKILL');
  });

  it('fails the deploy with the reason, and the server stays up', async () => {
    rmSync(node);
    const r = await runCli(['deploy', 'staging'], { cwd: app, dataDir, timeoutMs: 120_000 });
    expect(r.code, r.stdout + r.stderr).not.toBe(0);
    // Still the same server, answering, and saying why.
    await new Promise((res) => setTimeout(res, 500));
    expect(server.exitCode, readFileSync(join(work, 'server.log'), 'utf8').slice(-3000)).toBeNull();
    expect((await apiFetch(`${url}/healthz`)).status).toBe(200);
    const status = await getJson<EnvironmentStatus>(`${url}/api/environments/hello%2Fstaging`);
    expect(JSON.stringify(status)).toMatch(/cannot start the log relay: spawn \S+ ENOENT/);
  });
});
