// Issue 17: `slipway maintenance on|off`. A real server, the real router and real
// instances of the example service: in maintenance every request gets 503 with
// Retry-After and the message (HTML for browsers, JSON otherwise) while the
// instances keep running and passing their health checks; it survives a restart
// of the server and a kill -9 of the router; a deploy during it runs but is not
// exposed until off; off lifts it at once. Audited, and a viewer may not do it.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import type { TrafficGateJson } from '../src/api/views.ts';
import {
  freePort, getJson, isPidAlive, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess, type ServiceOptions,
} from './support/harness.ts';

const MESSAGE = 'Moving to a new database <db2>; back by 10:30 UTC.';

describe('maintenance', () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let port: number;
  let service: ServiceOptions;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir });
  const url = () => `http://127.0.0.1:${port}`;
  const status = () => getJson<EnvironmentStatus>(`${server.url}/api/environments/${encodeURIComponent('shop/production')}`);

  async function get(accept?: string): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
    const res = await request(`${url()}/`, accept ? { headers: { accept } } : {});
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  }

  /** The router's table version as it last wrote routes.json: grows with each table the server sends. */
  const routesVersion = () => (JSON.parse(readFileSync(join(dataDir, 'router', 'routes.json'), 'utf8')) as { version: number }).version;

  beforeAll(async () => {
    work = scratchDir();
    app = join(work, 'shop');
    dataDir = join(work, '.slipway');
    port = await freePort();
    service = { service: 'shop', envs: { production: { instances: 2, port } } };
    writeService(app, service);
    server = await startServerProcess(dataDir);
    const r = await cli('deploy', 'production');
    expect(r.code, r.stdout + r.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  }, 120_000);

  it('refuses bad flags and a viewer, changing nothing', async () => {
    const made = await cli('--json', 'token', 'create', '--user', 'vera', '--role', 'viewer');
    const viewer = (JSON.parse(made.stdout) as { token: string }).token;
    // Each CLI run costs seconds of start-up: run them side by side.
    const [zero, long, unknown, denied] = await Promise.all([
      cli('--json', 'maintenance', 'on', 'production', '--retry-after', '0'),
      cli('--json', 'maintenance', 'on', 'production', '--message', 'x'.repeat(1001)),
      cli('--json', 'maintenance', 'on', 'staging'),
      runCli(['--json', 'maintenance', 'on', 'production'], { cwd: app, dataDir, env: { SLIPWAY_TOKEN: viewer } }),
    ]);
    expect(zero.code).not.toBe(0);
    expect(JSON.parse(zero.stdout).error).toMatchObject({ code: 'E_BAD_REQUEST' });
    expect(JSON.parse(zero.stdout).error.message).toContain('--retry-after');
    expect(JSON.parse(long.stdout).error).toMatchObject({ code: 'E_BAD_REQUEST' });
    expect(JSON.parse(unknown.stdout).error).toMatchObject({ code: 'E_ENV_UNKNOWN' });
    expect(JSON.parse(denied.stdout).error).toMatchObject({ code: 'E_FORBIDDEN' });
    expect((await status()).traffic).toEqual({ maintenance: null, pause: null });
    expect((await get()).status).toBe(200);
  });

  it('answers 503 + Retry-After + the message, JSON or HTML by Accept, while the instances keep running', async () => {
    const on = await cli('--json', 'maintenance', 'on', 'production', '--message', MESSAGE, '--retry-after', '600');
    expect(on.code, on.stdout + on.stderr).toBe(0);
    const answer = JSON.parse(on.stdout) as TrafficGateJson;
    expect(answer).toMatchObject({ env: 'shop/production', changed: true, maintenance: { message: MESSAGE, retryAfterSeconds: 600 }, pause: null });

    // No wait: the command returns once the router has the table.
    const json = await get('application/json');
    expect(json.status).toBe(503);
    expect(json.headers['retry-after']).toBe('600');
    expect(JSON.parse(json.text)).toEqual({ error: 'maintenance', message: MESSAGE, retryAfterSeconds: 600 });
    const plain = await get();
    expect([plain.status, JSON.parse(plain.text).error]).toEqual([503, 'maintenance']);
    const page = await get('text/html,application/xhtml+xml,*/*;q=0.8');
    expect(page.status).toBe(503);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.text).toContain('Moving to a new database &#60;db2&#62;; back by 10:30 UTC.');

    // The instances run on and pass their health checks (which go to them, not through the router).
    const s = await status();
    expect(s.traffic?.maintenance).toMatchObject({ message: MESSAGE, retryAfterSeconds: 600 });
    expect(s.instances.map((i) => i.state)).toEqual(['ready', 'ready']);
    expect(s.instances.every((i) => i.pid !== null && isPidAlive(i.pid))).toBe(true);
    const direct = await request(`http://127.0.0.1:${s.instances[0]!.port}/healthz`);
    expect(direct.statusCode).toBe(200);
    await direct.body.text();

    const human = await cli('status', 'production');
    expect(human.stdout).toContain('maintenance');
    expect(human.stdout).toContain(MESSAGE);
  });

  it('stays on across a server restart and a router killed with -9', async () => {
    const before = routesVersion();
    await server.stop();
    server = await startServerProcess(dataDir);
    // The restarted server sent its own table, made from what it recorded.
    await waitFor('the restarted server to send its table', () => routesVersion() > before);
    expect((await get()).status).toBe(503);
    expect((await status()).traffic?.maintenance?.message).toBe(MESSAGE);

    const routerJson = join(dataDir, 'router', 'router.json');
    const oldPid = (JSON.parse(readFileSync(routerJson, 'utf8')) as { pid: number }).pid;
    process.kill(oldPid, 'SIGKILL');
    await waitFor('a new router', async () => {
      try {
        const pid = (JSON.parse(readFileSync(routerJson, 'utf8')) as { pid: number }).pid;
        return pid !== oldPid && (await get()).status !== 0;
      } catch {
        return false;
      }
    }, 30_000);
    const after = await get('application/json');
    expect([after.status, after.headers['retry-after'], JSON.parse(after.text).message]).toEqual([503, '600', MESSAGE]);
  }, 120_000);

  it('lets a deploy run during maintenance without exposing it, and lifts at once when turned off', async () => {
    writeService(app, { ...service, version: '2.0.0' });
    const deploy = await cli('deploy', 'production');
    expect(deploy.code, deploy.stdout + deploy.stderr).toBe(0);
    const s = await status();
    expect(s.stable?.number).toBe(2);
    expect(s.instances.every((i) => i.release === 2 && i.state === 'ready')).toBe(true);
    expect((await get()).status).toBe(503);

    const off = await cli('--json', 'maintenance', 'off', 'production');
    expect(off.code, off.stderr).toBe(0);
    expect(JSON.parse(off.stdout)).toMatchObject({ changed: true, maintenance: null });
    const served = await get();
    expect(served.status).toBe(200);
    expect(JSON.parse(served.text).version).toBe('2.0.0');
    expect((await status()).traffic).toEqual({ maintenance: null, pause: null });
    const again = await cli('maintenance', 'off', 'production');
    expect(again.stdout).toContain('was not in maintenance');
  }, 120_000);

  it('records who turned it on and off in the audit log', async () => {
    const r = await cli('--json', 'audit', '--env', 'shop/production');
    const entries = JSON.parse(r.stdout).entries as { action: string; outcome: string; details: Record<string, unknown> }[];
    expect(entries.find((e) => e.action === 'maintenance.on' && e.outcome === 'ok')?.details).toMatchObject({ message: MESSAGE, retryAfterSeconds: 600 });
    expect(entries.some((e) => e.action === 'maintenance.off' && e.outcome === 'ok')).toBe(true);
    expect(entries.some((e) => e.action === 'maintenance.on' && e.outcome === 'denied')).toBe(true);
  });
});
