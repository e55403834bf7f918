// A newcomer's CI job, the way examples/ci/ runs it, simulated in a clean
// directory with only the service's files, node and a ci token in the environment.
// Its tests, like the example service's, are top-level test() calls: node --test's
// junit reporter writes them straight under <testsuites>, and the server refused
// the report with "holds no <testcase>: no test ran", while the job's log had just
// shown them pass. Both node's junit and its TAP report are taken.

import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type ServerProcess } from './support/harness.ts';

describe('ci-release from a job whose tests are top-level test() calls', () => {
  const work = scratchDir('slipway-ci-newcomer-');
  const dataDir = join(work, '.slipway');
  const runner = join(work, 'runner');
  const checkout = join(runner, 'workspace');
  let server: ServerProcess | null = null;
  let ciEnv: Record<string, string> = {};

  const ciRelease = (report: string) => runCli(['ci-release', '--detach', '--test-report', report], {
    // The runner has no data directory of a server: an empty one stands for it.
    cwd: checkout, dataDir: join(runner, 'no-server-here'), timeoutMs: 120_000, env: ciEnv,
  });
  const nodeTest = (...reporter: string[]) => execFileSync(process.execPath, ['--test', '--test-reporter=spec', '--test-reporter-destination=stdout', ...reporter], { cwd: checkout, stdio: 'pipe' });

  beforeAll(async () => {
    mkdirSync(runner);
    writeService(checkout, { service: 'orders', envs: { staging: { instances: 1, port: await freePort() }, production: { instances: 1, port: await freePort() } } });
    appendFileSync(join(checkout, 'slipway.yaml'), 'pipeline: { rollback_drill: false }\n');
    server = await startServerProcess(dataDir);
    const made = await runCli(['token', 'create', '--user', 'github-orders', '--role', 'ci', '--services', 'orders', '--expires', '1d'], { cwd: work, dataDir });
    expect(made.code, made.stderr).toBe(0);
    const token = /slw_\S+/.exec(made.stdout)![0];
    ciEnv = {
      SLIPWAY_SERVER: server.url, SLIPWAY_TOKEN: token, GITHUB_ACTIONS: 'true', GITHUB_SHA: 'a'.repeat(40), GITHUB_REF_NAME: 'main',
      GITHUB_SERVER_URL: 'https://github.example', GITHUB_REPOSITORY: 'acme/orders', GITHUB_RUN_ID: '42',
    };
  }, 120_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  }, 60_000);

  const counted = async (id: number) => {
    const shown = await runCli(['--json', 'runs', 'show', String(id)], { cwd: work, dataDir });
    return (JSON.parse(shown.stdout) as { run: { service: string; ci: { testReport: { tests: number; fail: number } } } }).run;
  };

  it('the junit report of examples/ci starts the run, with its top-level tests counted', async () => {
    nodeTest('--test-reporter=junit', `--test-reporter-destination=${join(runner, 'junit.xml')}`);
    const junit = readFileSync(join(runner, 'junit.xml'), 'utf8');
    // The shape in question: cases, and no suite around them.
    expect(junit).toMatch(/<testcase /);
    expect(junit).not.toMatch(/<testsuite[\s>]/);
    const r = await ciRelease(join(runner, 'junit.xml'));
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const run = await counted(1);
    expect(run.service).toBe('orders');
    expect(run.ci.testReport.fail).toBe(0);
    expect(run.ci.testReport.tests).toBe((junit.match(/<testcase /g) ?? []).length);
  }, 150_000);

  it('a TAP report starts a run too, with the tests counted', async () => {
    nodeTest('--test-reporter=tap', `--test-reporter-destination=${join(runner, 'report.tap')}`);
    const r = await ciRelease(join(runner, 'report.tap'));
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const run = await counted(2);
    expect(run.service).toBe('orders');
    expect(run.ci.testReport.fail).toBe(0);
    expect(run.ci.testReport.tests).toBeGreaterThan(0);
  }, 150_000);
});
