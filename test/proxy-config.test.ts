// The `proxy:` section of slipway.yaml reaches the router through a deploy: a
// response slower than the environment's response_timeout is answered 504 by the
// router with a body naming the limit, and the next release's longer limit lets it
// through. Real server, router, instances and CLI.

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type ServerProcess } from './support/harness.ts';

describe('proxy settings from slipway.yaml', () => {
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let port: number;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir, timeoutMs: 60_000 });
  const write = (version: string, proxyYaml: string) => writeService(app, {
    version, envs: { production: { instances: 1, port, extraYaml: proxyYaml, config: { LATENCY_MS: '1500' } } },
  });

  beforeAll(async () => {
    const work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    port = await freePort();
    server = await startServerProcess(dataDir);
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('a response slower than proxy.response_timeout gets the router\'s 504 naming the limit; a longer limit lets it through', async () => {
    write('1.0.0', 'proxy:\n  response_timeout: 1s');
    const first = await cli('deploy', 'production');
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const cut = await fetch(`http://127.0.0.1:${port}/`);
    expect(cut.status).toBe(504);
    expect(await cut.json()).toMatchObject({ limit: 'response_timeout' });

    write('1.0.1', 'proxy:\n  response_timeout: 5s');
    const second = await cli('deploy', 'production');
    expect(second.code, second.stdout + second.stderr).toBe(0);
    const ok = await fetch(`http://127.0.0.1:${port}/`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ version: '1.0.1' });
  });
});
