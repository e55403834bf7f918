// A newcomer's first `slipway release` whose tests fail. The CLI said only
// "test: tests failed: exit code 1" and "fix the cause, then: slipway rerun 1",
// but a rerun builds the same commit again, so the fix in the code could never
// reach it; and which test failed, and why, took a second command to find. Right
// after `git init`, release answered that HEAD "is not a commit" of the repository.
// And the watch after production (2 minutes by default) passed without a word.

import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type ServerProcess } from './support/harness.ts';

const FAILING_TEST = `
import { test } from 'node:test';
import assert from 'node:assert';
test('order totals add up', () => assert.equal(2 + 2, 5, 'the order total is wrong'));
`;

describe('a release whose tests fail', () => {
  const work = scratchDir('slipway-release-fail-');
  const app = join(work, 'orders');
  const dataDir = join(work, '.slipway');
  let server: ServerProcess | null = null;

  beforeAll(async () => {
    writeService(app, { service: 'orders', envs: { staging: { instances: 1, port: await freePort() }, production: { instances: 1, port: await freePort() } } });
    appendFileSync(join(app, 'slipway.yaml'), 'test: { command: node --test test/ }\npipeline: { rollback_drill: false }\n');
    mkdirSync(join(app, 'test'), { recursive: true });
    writeFileSync(join(app, 'test', 'totals.test.js'), FAILING_TEST);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'orders', version: '1.0.0', type: 'module' }));
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.email=dev@example.com', '-c', 'user.name=dev', ...args], { cwd: app, stdio: 'pipe' });
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('commit', '-qm', 'orders with a wrong total');
    server = await startServerProcess(dataDir);
  }, 120_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  }, 60_000);

  it('following a run through the watch after production says now and then that it goes on', async () => {
    const ship = join(work, 'shipping');
    writeService(ship, {
      service: 'shipping',
      envs: { staging: { instances: 1, port: await freePort() }, production: { instances: 1, port: await freePort(), extraYaml: 'watch: 20s' } },
    });
    appendFileSync(join(ship, 'slipway.yaml'), 'pipeline: { rollback_drill: false, health_window: 1s }\n');
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.email=dev@example.com', '-c', 'user.name=dev', ...args], { cwd: ship, stdio: 'pipe' });
    git('init', '-q', '-b', 'main');
    git('add', '-A');
    git('commit', '-qm', 'shipping');
    const r = await runCli(['release', '--wait'], { cwd: ship, dataDir, timeoutMs: 120_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // Before: "▸ watch running", then 20 s of nothing until "✓ watch succeeded".
    // (A first production release has no earlier one to be compared with: the line names no baseline then.)
    expect(r.stdout).toMatch(/… watch +still running \(\d+s\)/);
    expect(r.stdout).toMatch(/✓ watch +succeeded/);
  }, 150_000);

  it('right after git init, release says to commit first rather than that HEAD is unknown', async () => {
    const fresh = join(work, 'fresh');
    writeService(fresh, { service: 'fresh', envs: { staging: { instances: 1, port: await freePort() }, production: { instances: 1, port: await freePort() } } });
    appendFileSync(join(fresh, 'slipway.yaml'), 'pipeline: {}\n');
    execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: fresh });
    const r = await runCli(['release'], { cwd: fresh, dataDir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`the repository ${fresh} has no commit yet, and slipway release builds a commit: commit the service (git add -A && git commit`);
  });

  it('shows the failing test\'s output and says a fix needs a new commit, not a rerun', async () => {
    const r = await runCli(['release'], { cwd: app, dataDir, timeoutMs: 120_000 });
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toContain('test: tests failed: exit code 1');
    // What failed and why, without a second command.
    expect(r.stdout).toContain('--- output of test');
    expect(r.stdout).toMatch(/not ok \d+ - order totals add up/);
    expect(r.stdout).toContain('the order total is wrong');
    // A rerun builds the same commit: the advice is a new commit and a new release.
    expect(r.stdout).toMatch(/commit the fix and run `slipway release` again \(`slipway rerun \d+` builds the same commit [0-9a-f]{12} again/);
    expect(r.stdout).not.toContain('fix the cause, then: slipway rerun');
  }, 150_000);
});
