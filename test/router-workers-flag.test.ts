// slipway server --router-workers (and $SLIPWAY_ROUTER_WORKERS): the router the
// server starts runs that many workers; a bad count is refused before anything
// starts. Changing the count of a running router is router-upgrade.test.ts's.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureRouter } from '../src/router/router-client.ts';
import { runCli, scratchDir, shutdownEverything, startServerProcess, type ServerProcess } from './support/harness.ts';

describe('slipway server --router-workers', () => {
  const work = scratchDir('slipway-router-workers-');
  const dataDir = join(work, '.slipway');
  let server: ServerProcess | null = null;

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('starts the router with the count $SLIPWAY_ROUTER_WORKERS asks for', async () => {
    server = await startServerProcess(dataDir, 'server.log', { ...process.env, SLIPWAY_ROUTER_WORKERS: '1' });
    const router = await ensureRouter({ stateDir: join(dataDir, 'router') });
    expect((await router.getStatus()).workers).toBe(1);
  });

  it('refuses a count out of range, or not a number, naming the flag or the variable, and starts nothing', async () => {
    const other = join(work, 'other');
    const flag = await runCli(['server', '--listen', '127.0.0.1:0', '--router-workers', '0'], { cwd: work, dataDir: other, timeoutMs: 30_000 });
    expect(flag.code).not.toBe(0);
    expect(flag.stderr).toContain("option '--router-workers <n>' argument '0' is invalid. expected a whole number from 1 to 64");
    const env = await runCli(['server', '--listen', '127.0.0.1:0'], { cwd: work, dataDir: other, timeoutMs: 30_000, env: { SLIPWAY_ROUTER_WORKERS: 'many' } });
    expect(env.code).not.toBe(0);
    expect(env.stderr).toContain('SLIPWAY_ROUTER_WORKERS: expected a whole number from 1 to 64, got "many"');
    expect(existsSync(other)).toBe(false); // no data directory, no router
  });
});
