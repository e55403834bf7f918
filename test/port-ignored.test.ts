// A service that ignores $PORT (a hard-coded listen(3000), the commonest first
// mistake): its deploy failed with "nothing listens on port N" next to the
// service's own "listening on 3000", and no word of how the two meet.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type ServerProcess } from './support/harness.ts';

describe('a service that listens on a port of its own', () => {
  const work = scratchDir('slipway-port-ignored-');
  const app = join(work, 'shop');
  const dataDir = join(work, '.slipway');
  let server: ServerProcess | null = null;
  let own = 0;

  beforeAll(async () => {
    own = await freePort();
    writeService(app, { service: 'shop', health: { startDeadline: '3s' }, envs: { staging: { instances: 1, port: await freePort() } } });
    writeFileSync(join(app, 'server.js'), `(await import('node:http')).createServer((q, s) => s.end('ok')).listen(${own}, '127.0.0.1', () => console.log('Server listening on http://localhost:${own}'));\n`);
    server = await startServerProcess(dataDir);
  }, 120_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  }, 60_000);

  it('fails its deploy saying where it listens and which variable names its port', async () => {
    const r = await runCli(['deploy', 'staging'], { cwd: app, dataDir, timeoutMs: 60_000 });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/last probe: nothing listens on port (\d+)/);
    const given = /nothing listens on port (\d+)/.exec(r.stdout)![1];
    expect(r.stdout).toContain(`(it says it listens on ${own}, not on ${given}: a service must listen on the port slipway gives it in $PORT)`);
  });
});
