// One server runs every service on a host (README, "Several services on one
// server"), so the CLI in a second service's directory, which holds no server of
// its own, must find the one that runs: a new user deploying `blog` after `shop`
// got "no slipway server found for data directory blog/.slipway".

import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, freePort, scratchDir, shutdownEverything, startServerProcess, writeService, type CliResult, type ServerProcess } from './support/harness.ts';

/** The CLI as a user types it: no --data-dir, in a service's directory. */
function slipway(cwd: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, NO_COLOR: '1', SLIPWAY_SERVER: '', SLIPWAY_DATA_DIR: '', SLIPWAY_TOKEN: '', ...env } });
    child.stdin.end();
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

function errorOf(r: CliResult): { code: string; message: string } {
  // The line that is the error: a server's own log lines share its stdout, before and after.
  for (const line of r.stdout.trim().split('\n').reverse()) {
    try {
      const parsed = JSON.parse(line) as { error?: { code: string; message: string } };
      if (parsed.error && typeof parsed.error === 'object') return parsed.error;
    } catch {
      // not JSON
    }
  }
  throw new Error(`no error on stdout:\n${r.stdout}\n${r.stderr}`);
}

function expectOk(r: CliResult): void {
  expect(r.code, r.stdout + r.stderr).toBe(0);
}

describe('the CLI finds the one server of the machine from any service directory', () => {
  const work = scratchDir('slipway-discovery-');
  const shop = join(work, 'shop');
  const blog = join(work, 'blog');
  const elsewhere = join(work, 'elsewhere');
  const shopData = join(shop, '.slipway');
  const otherData = join(work, 'other', '.slipway');
  let server: ServerProcess | null = null;
  let other: ServerProcess | null = null;
  let apiPort = 0;

  beforeAll(async () => {
    mkdirSync(shop);
    mkdirSync(blog);
    mkdirSync(elsewhere);
    mkdirSync(join(work, 'other'));
    writeService(shop, { service: 'shop', envs: { staging: { instances: 1, port: await freePort() } } });
    writeService(blog, { service: 'blog', envs: { staging: { instances: 1, port: await freePort() } } });
    apiPort = await freePort();
    server = await startServerProcess(shopData, 'shop-server.log', process.env, `127.0.0.1:${apiPort}`);
  }, 120_000);

  afterAll(async () => {
    // The server, its router and its instances: a stopped server leaves its router serving.
    if (other) await shutdownEverything(other.url, otherData);
    await shutdownEverything(server?.url ?? null, shopData);
  }, 60_000);

  it('deploys blog from its own directory to the server started in shop', async () => {
    const d = await slipway(blog, ['deploy', 'staging']);
    expect(d.code, d.stdout + d.stderr).toBe(0);
    const s = await slipway(elsewhere, ['--json', 'status']);
    expect(s.code, s.stderr).toBe(0);
    const envs = (JSON.parse(s.stdout) as { environments: { env: string }[] }).environments.map((e) => e.env);
    expect(envs).toContain('blog/staging');
    // blog's directory got no server of its own: only the deploy's caches.
    const kept = readdirSync(join(blog, '.slipway'));
    expect(kept).toContain('file-hashes.json');
    expect(kept).not.toContain('server.json');
    expect(kept).not.toContain('state.db');
  }, 120_000);

  it('a second `slipway server` on the same address names the one that runs', async () => {
    const r = await slipway(blog, ['--json', 'server', '--listen', `127.0.0.1:${apiPort}`]);
    expect(r.code).toBe(1);
    const e = errorOf(r);
    expect(e.code).toBe('E_LISTEN_FAILED');
    expect(e.message).toContain(`data directory ${shopData}`);
    expect(e.message).toContain('already listens there');
  }, 60_000);

  it('with two servers running, a bare command names both instead of guessing', async () => {
    other = await startServerProcess(otherData, 'other-server.log');
    const r = await slipway(elsewhere, ['--json', 'status']);
    expect(r.code).toBe(1);
    const e = errorOf(r);
    expect(e.code).toBe('E_SERVER_AMBIGUOUS');
    expect(e.message).toContain(shopData);
    expect(e.message).toContain(otherData);
    // Naming one settles it, and the server.json here still wins over the register.
    expectOk(await slipway(elsewhere, ['--data-dir', shopData, 'status']));
    expectOk(await slipway(shop, ['status']));
    await shutdownEverything(other.url, otherData);
    other = null;
    expectOk(await slipway(elsewhere, ['status']));
  }, 120_000);

  it('a chosen data directory is never swapped for another server', async () => {
    const r = await slipway(elsewhere, ['--json', 'status'], { SLIPWAY_DATA_DIR: join(elsewhere, '.slipway') });
    expect(r.code).toBe(1);
    expect(errorOf(r).code).toBe('E_SERVER_UNREACHABLE');
  });

  it('a register others may write is not believed', async () => {
    const dir = join(process.env.SLIPWAY_RUNTIME_DIR!, 'servers');
    chmodSync(dir, 0o777);
    try {
      const r = await slipway(elsewhere, ['--json', 'status']);
      expect(r.code).toBe(1);
      expect(errorOf(r).code).toBe('E_SERVER_UNREACHABLE');
    } finally {
      chmodSync(dir, 0o700);
    }
    expectOk(await slipway(elsewhere, ['status']));
  });

  it('a server killed with -9 is not offered', async () => {
    await server!.kill9();
    const r = await slipway(elsewhere, ['--json', 'status']);
    expect(r.code).toBe(1);
    const e = errorOf(r);
    expect(e.code).toBe('E_SERVER_UNREACHABLE');
    expect(e.message).toContain('runs on this machine');
    server = await startServerProcess(shopData, 'shop-server.log', process.env, `127.0.0.1:${apiPort}`);
    expectOk(await slipway(blog, ['status', 'staging']));
  }, 120_000);
});
