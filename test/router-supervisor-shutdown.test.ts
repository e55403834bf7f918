// A router the server shut down stays down: a call still in flight on the server
// (a route push of an instance being stopped) used to find it gone and start a new
// one, which then ran on with no server to stop it. Nor does a router the supervisor
// was starting, to replace a dead one, when the shutdown came.

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RouterSupervisor } from '../src/router/router-supervisor.ts';
import { isPidAlive } from './support/harness.ts';
import { processesOf } from './support/processes.ts';

describe('a router supervisor after shutdown', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'slipway-supervisor-shutdown-'));
  const routerPid = (): number | null => (existsSync(join(stateDir, 'router.json')) ? (JSON.parse(readFileSync(join(stateDir, 'router.json'), 'utf8')) as { pid: number }).pid : null);

  afterAll(() => {
    const pid = routerPid();
    if (pid !== null) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    rmSync(stateDir, { recursive: true, force: true });
  });

  const groupsOf = (dir: string): number[] => processesOf(process.getuid?.() ?? 0, dir);

  it('refuses a later call instead of starting a router again', async () => {
    const supervisor = await RouterSupervisor.start({ stateDir }, () => {});
    const first = supervisor.pid;
    await supervisor.shutdown();
    await expect.poll(() => isPidAlive(first), { timeout: 10_000 }).toBe(false);
    await expect(supervisor.putRoutes({ version: 1, environments: {} })).rejects.toMatchObject({ code: 'E_ROUTER_UNAVAILABLE' });
    const pid = routerPid();
    expect(pid === null || !isPidAlive(pid)).toBe(true);
  }, 30_000);

  it('stops the router a restart under way was starting when the shutdown came', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-supervisor-restart-'));
    try {
      const supervisor = await RouterSupervisor.start({ stateDir: dir }, () => {});
      const dead = supervisor.pid;
      process.kill(-dead, 'SIGKILL');
      await expect.poll(() => isPidAlive(dead), { timeout: 10_000 }).toBe(false);
      // A route push finds the router gone and starts a new one; the server shuts down meanwhile.
      const push = supervisor.putRoutes({ version: 1, environments: {} }).then(
        () => 'pushed',
        (e: { code?: string }) => e.code ?? 'failed',
      );
      await new Promise((r) => setTimeout(r, 20));
      await supervisor.shutdown();
      expect(await push).toBe('E_ROUTER_UNAVAILABLE');
      // Nothing of that data directory runs once shutdown() has returned.
      expect(groupsOf(dir)).toEqual([]);
    } finally {
      for (const pid of groupsOf(dir)) process.kill(pid, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
