// `slipway server stop --all` (POST /api/shutdown with stopInstances) while a rollout
// waits on a release that never becomes healthy: the rollout's failure then brings
// the stable release back to size, which used to start an instance after the
// shutdown had stopped them all, so it ran on with no server to stop it.

import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { apiFetch, freePort, isPidAlive, killLeftovers, runCli, scratchDir, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';

describe('a shutdown that stops instances while a rollout is under way', () => {
  const work = scratchDir('slipway-shutdown-race-');
  const app = join(work, 'hello');
  const dataDir = join(work, '.slipway');
  let server: ServerProcess | undefined;
  const everyPid = (): number[] => {
    const db = new Database(join(dataDir, 'state.db'), { readonly: true });
    try {
      return (db.prepare('SELECT pid FROM instances WHERE pid IS NOT NULL').all() as { pid: number }[]).map((r) => r.pid);
    } finally {
      db.close();
    }
  };

  afterAll(() => {
    // Belt and braces: never leave an instance of this test running.
    for (const pid of everyPid()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    killLeftovers(dataDir);
  });

  it('leaves no instance running once the server has exited, also one the rollout\'s failure would start', async () => {
    const port = await freePort();
    const health = { startDeadline: '4s' };
    writeService(app, { envs: { staging: { instances: 1, port } }, health });
    server = await startServerProcess(dataDir, 'server.log', process.env, `127.0.0.1:${await freePort()}`);
    expect((await runCli(['deploy', 'staging'], { cwd: app, dataDir, timeoutMs: 60_000 })).code).toBe(0);
    // v2 never passes its health check: its rollout waits out start_deadline, then fails and restores v1.
    writeService(app, { version: '2.0.0', envs: { staging: { instances: 1, port, config: { FAIL_HEALTH: '1' } } }, health });
    expect((await runCli(['deploy', 'staging', '--detach'], { cwd: app, dataDir, timeoutMs: 60_000 })).code).toBe(0);
    await new Promise((r) => setTimeout(r, 1_000));
    const stopped = await apiFetch(`${server.url}/api/shutdown`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ stopInstances: true, stopRouter: true }) });
    expect(stopped.status).toBeLessThan(300);
    await waitFor('the server to exit', () => server!.child.exitCode !== null || server!.child.signalCode !== null, 30_000);
    // Past the rollout's start_deadline, when its failure would have restored v1.
    await new Promise((r) => setTimeout(r, 6_000));
    expect(everyPid().filter(isPidAlive)).toEqual([]);
  }, 120_000);
});
