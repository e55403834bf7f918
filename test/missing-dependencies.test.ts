// A newcomer's first deploy of an Express app without `npm ci`: the release is the
// directory as it is, so its instance dies with "Cannot find module 'express'".
// validate and deploy said nothing beforehand, and the failed rollout quoted the
// last five lines of node's crash (the require stack's tail, "Node.js v20"), never
// the error itself, four times over.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type ServerProcess } from './support/harness.ts';

describe('a service deployed without its dependencies installed', () => {
  const work = scratchDir('slipway-nodeps-');
  const app = join(work, 'shop');
  const dataDir = join(work, '.slipway');
  let server: ServerProcess | null = null;

  beforeAll(async () => {
    mkdirSync(app);
    writeFileSync(join(app, 'server.js'), "const express = require('express');\nexpress().listen(Number(process.env.PORT));\n");
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'shop', version: '1.0.0', dependencies: { express: '^4.21.0', '@scope/thing': '1.0.0' } }));
    // One of the two is there: only the other is named.
    mkdirSync(join(app, 'node_modules', '@scope', 'thing'), { recursive: true });
    writeFileSync(join(app, 'node_modules', '@scope', 'thing', 'package.json'), JSON.stringify({ name: '@scope/thing', version: '1.0.0' }));
    writeService(app, { service: 'shop', envs: { staging: { instances: 1, port: await freePort() } } });
    server = await startServerProcess(dataDir);
  }, 120_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  }, 60_000);

  it('validate warns, naming the missing dependency and `npm ci`', async () => {
    const r = await runCli(['validate'], { cwd: app, dataDir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/warning slipway\.yaml:\d+:\d+ run\.command: package\.json depends on express, not in this directory's node_modules.*npm ci/);
    expect(r.stdout).not.toContain('@scope/thing');
  });

  it('deploy warns first, and the failure quotes the error once, with what to do', async () => {
    const r = await runCli(['deploy', 'staging'], { cwd: app, dataDir });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^warning package\.json depends on express/m);
    expect(r.stdout).toContain("Error: Cannot find module 'express'");
    expect(r.stdout).toContain('(the release has no node_modules/express: slipway packs the service directory as it is, so run `npm ci` there');
    // Quoted once; the step's failure, the rollback and the rollout's end point back to it.
    expect(r.stdout.split("Error: Cannot find module 'express'").length - 1).toBe(1);
    expect(r.stdout).toMatch(/rollout #\d+ deploy → #1 failed — instance \S+ exited before it became healthy \(its last log lines are above\)/);
    // A first release has no stable one to go back to, and is not said to.
    expect(r.stdout).toContain("stopping the new release's instances (no earlier release to go back to)");
    expect(r.stdout).not.toContain('rolling back to the stable release');
    // The API's record keeps the whole reason.
    const j = await runCli(['--json', 'status', 'staging'], { cwd: app, dataDir });
    expect(j.stdout).toContain("Error: Cannot find module 'express'");
  }, 60_000);

  it('logs finds the crash, and says so on stderr when a filter matches nothing; --json prints only records', async () => {
    const found = await runCli(['logs', 'staging', '--grep', 'Cannot find module'], { cwd: app, dataDir });
    expect(found.code, found.stderr).toBe(0);
    expect(found.stdout).toContain("Cannot find module 'express'");
    const none = await runCli(['logs', 'staging', '--grep', 'no such text anywhere'], { cwd: app, dataDir });
    expect(none.code).toBe(0);
    expect(none.stdout).toBe('');
    expect(none.stderr).toBe('no log records of shop/staging match these filters\n');
    const json = await runCli(['--json', 'logs', 'staging', '--grep', 'no such text anywhere'], { cwd: app, dataDir });
    expect([json.code, json.stdout, json.stderr]).toEqual([0, '', '']);
  });
});
