// kill -9 of the server: the router and the instances carry on serving, and a new
// server adopts them (no duplicates, no orphans) and finishes what was under way.

import { chmodSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTraffic } from '../src/cli/traffic.ts';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import {
  freePort, getJson, isPidAlive, liveInstanceRows, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService,
  type ServerProcess, type ServiceOptions,
} from './support/harness.ts';

describe('a server killed with SIGKILL', () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let service: ServiceOptions;
  let prodUrl: string;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir });

  beforeAll(async () => {
    work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    const port = await freePort();
    prodUrl = `http://127.0.0.1:${port}/`;
    service = { version: '1.0.0', envs: { production: { instances: 3, port, batch: 1 } } };
    writeService(app, service);
    server = await startServerProcess(dataDir);
    const r = await cli('deploy', 'production');
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('leaves the router and instances serving, and a restarted server adopts them without duplicates', async () => {
    const before = liveInstanceRows(dataDir).map((i) => `${i.id}:${i.pid}`).sort();
    expect(before).toHaveLength(3);
    const traffic = startTraffic({ url: prodUrl, concurrency: 4, maxDurationMs: 60_000, pauseMs: 2 });
    await new Promise((r) => setTimeout(r, 300));
    await server.kill9();
    const during = traffic.stats().sent;
    // Served while no server ran: over 100 requests within 1.5 s (as soon as they are, rather than after a fixed 1.5 s).
    await waitFor('100 requests served with no server', () => traffic.stats().sent - during > 100, 1500).catch(() => undefined);
    expect(traffic.stats().sent - during).toBeGreaterThan(100);

    const second = await startServerProcess(dataDir, 'server2.log');
    // The router's own files are owner-only from the start, so a restart has nothing to tighten.
    for (const f of ['router/routes.json', 'router/router.json']) expect(statSync(join(dataDir, f)).mode & 0o777, f).toBe(0o600);
    expect(readFileSync(join(work, 'server2.log'), 'utf8')).not.toContain('tightened');
    // A server refused for the lock changes nothing in the data directory it does not own.
    chmodSync(join(dataDir, 'state.db'), 0o644);
    const refused = await runCli(['server', '--listen', '127.0.0.1:0'], { cwd: app, dataDir, timeoutMs: 20_000 });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/E_DATA_DIR_LOCKED.*another slipway server \(pid \d+\) is already running/);
    expect(refused.stderr).not.toContain('tightened');
    expect(statSync(join(dataDir, 'state.db')).mode & 0o777).toBe(0o644);
    chmodSync(join(dataDir, 'state.db'), 0o600);

    server = second;
    await new Promise((r) => setTimeout(r, 1500)); // a few reconcile passes
    const s = await traffic.stop();
    expect(s.failed, JSON.stringify(s.errors)).toBe(0);
    const after = liveInstanceRows(dataDir).map((i) => `${i.id}:${i.pid}`).sort();
    expect(after).toEqual(before);
    const status = await getJson<EnvironmentStatus>(`${server.url}/api/environments/production`);
    expect(status.instances.map((i) => i.state)).toEqual(['ready', 'ready', 'ready']);
    expect(status.stable?.number).toBe(1);
  });

  it('killed in the middle of a rolling deploy, the next server finishes it with 0 failed requests', async () => {
    writeService(app, { ...service, version: '2.0.0', envs: { production: { ...service.envs.production!, config: { START_DELAY_MS: '700' } } } });
    const traffic = startTraffic({ url: prodUrl, concurrency: 4, maxDurationMs: 90_000, pauseMs: 2 });
    const started = await cli('deploy', 'production', '--detach');
    expect(started.code, started.stderr).toBe(0);
    // Kill once the first new instance is serving: the rollout is mid-way.
    await waitFor('a v2 instance to serve', async () => (await getJson<{ version: string }>(prodUrl)).version === '2.0.0');
    await server.kill9();
    await new Promise((r) => setTimeout(r, 500));
    server = await startServerProcess(dataDir, 'server3.log');
    await waitFor('the rollout to finish', async () => {
      const st = await getJson<EnvironmentStatus>(`${server.url}/api/environments/production`);
      return st.rollout === null && st.stable?.number === 2;
    }, 60_000);
    const s = await traffic.stop();
    expect(s.failed, JSON.stringify(s.errors)).toBe(0);
    const rows = liveInstanceRows(dataDir);
    expect(rows).toHaveLength(3);
    expect(rows.every((r) => r.pid !== null && isPidAlive(r.pid))).toBe(true);
    const st = await getJson<EnvironmentStatus>(`${server.url}/api/environments/production`);
    expect(st.instances.every((i) => i.release === 2 && i.state === 'ready')).toBe(true);
    expect(st.lastRollout?.phase).toBe('succeeded');
  });

  it('a router killed while the server runs is replaced and gets the current routes back', async () => {
    const { readFileSync } = await import('node:fs');
    const routerJson = join(dataDir, 'router', 'router.json');
    const oldPid = (JSON.parse(readFileSync(routerJson, 'utf8')) as { pid: number }).pid;
    process.kill(oldPid, 'SIGKILL');
    // The killed keeper's workers may answer for a moment after it: wait for the replacement itself.
    await waitFor('a new router to serve production', async () => {
      try {
        if ((JSON.parse(readFileSync(routerJson, 'utf8')) as { pid: number }).pid === oldPid) return false;
        return (await getJson<{ version: string }>(prodUrl)).version === '2.0.0';
      } catch {
        return false;
      }
    }, 20_000);
    const newPid = (JSON.parse(readFileSync(routerJson, 'utf8')) as { pid: number }).pid;
    expect(newPid).not.toBe(oldPid);
    const traffic = startTraffic({ url: prodUrl, concurrency: 4, maxDurationMs: 30_000, maxRequests: 2000 });
    const s = await traffic.done;
    expect(s.failed, JSON.stringify(s.errors)).toBe(0);
    const status = await getJson<EnvironmentStatus>(`${server.url}/api/environments/production`);
    expect(status.instances.filter((i) => i.state === 'ready')).toHaveLength(3);
  });
});
