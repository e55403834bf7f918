// The pipeline finds a run however many runs came after it. Three runs are recorded
// through the real store into a real state.db, then 600 more (releasing that many
// times would take hours): an earlier run of the commit a push webhook delivers
// again, the run that built production's release #1, and a run waiting for
// approval. A real server then answers from them: the redelivered push with the
// run already there (no second run), the release's checklist with its run, the runs
// list filtered to the runs waiting for approval, and the dashboard, in a real
// browser: the overview with the waiting run in "Waiting for approval", the runs
// page saying it shows only the newest 50.

import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChecklistJson, RunsJson } from '../src/api/views.ts';
import { parseConfigText } from '../src/config/index.ts';
import type { ReleaseConfig } from '../src/core/records.ts';
import { StateStore } from '../src/store/state-store.ts';
import { adminToken, apiFetch, freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type ServerProcess } from './support/harness.ts';
import { CHROMIUM, inSignedInDashboard } from './support/dashboard-page.ts';

const LATER_RUNS = 600;
const WEBHOOK_SECRET = 'old-runs-webhook-secret-7c2e';
const ENV = 'hello/production';
const DIGEST = `sha256:${'b'.repeat(64)}`;

/** The runs the test asks about, by id: each is older than the newest 600. */
const PUSHED_RUN = 1;
const BUILDER_RUN = 2;
const WAITING_RUN = 3;

describe('pipeline runs older than the newest 500', { timeout: 120_000 }, () => {
  let work: string;
  let repo: string;
  let dataDir: string;
  let server: ServerProcess;
  let pushed: string;
  const serverEnv = () => ({ ...process.env, SLIPWAY_WEBHOOK_SECRET: WEBHOOK_SECRET, SLIPWAY_WEBHOOK_REPO: repo });
  const runs = (query: string) => getJson<RunsJson>(`${server.url}/api/pipeline/runs?${query}`);

  /** The three runs, production's release #1 of the second one's artefact, then 600 failed runs of other commits. */
  function recordHistory(store: StateStore, configText: string): void {
    const config = parseConfigText(configText, 'slipway.yaml');
    const stored = JSON.stringify({ subdir: '', config });
    const { environments, ...rest } = config;
    const releaseConfig: ReleaseConfig = { ...rest, environment: environments.production!, configVersion: null, overrides: {}, secrets: {} };
    const run = (o: { commit: string; status: 'succeeded' | 'waiting' | 'failed'; stage: 'watch' | 'approval' | 'build'; artefactDigest?: string }, at: number) => store.pipeline.insertRun({
      service: 'hello', repo, ref: 'main', commit: o.commit, version: `1.0.${at}`, status: o.status, stage: o.stage, reason: o.status === 'waiting' ? 'waiting for 1 more approval(s)' : null,
      startedBy: 'alice', createdAt: at * 1000, updatedAt: at * 1000, finishedAt: o.status === 'waiting' ? null : at * 1000, configText: stored, artefactDigest: o.artefactDigest ?? null, attempt: 1,
    });
    store.atomically(() => {
      expect(run({ commit: pushed, status: 'succeeded', stage: 'watch' }, 1).id).toBe(PUSHED_RUN);
      expect(run({ commit: 'c'.repeat(40), status: 'succeeded', stage: 'watch', artefactDigest: DIGEST }, 2).id).toBe(BUILDER_RUN);
      expect(run({ commit: 'd'.repeat(40), status: 'waiting', stage: 'approval' }, 3).id).toBe(WAITING_RUN);
      store.ensureEnvironment(ENV);
      store.putArtefact({ digest: DIGEST, service: 'hello', bytes: 1, path: '/nowhere.tar.gz', createdAt: 2000 });
      store.insertRelease({ env: ENV, service: 'hello', artefactDigest: DIGEST, config: releaseConfig, configHash: `sha256:${'1'.repeat(64)}`, dir: '/nowhere/1', createdAt: 2000, createdBy: 'alice' });
      for (let i = 1; i <= LATER_RUNS; i++) run({ commit: String(i).padStart(40, '0'), status: 'failed', stage: 'build' }, 3 + i);
    });
  }

  beforeAll(async () => {
    work = scratchDir('slipway-pipeline-old-runs-');
    repo = join(work, 'hello');
    dataDir = join(work, '.slipway');
    writeService(repo, {
      envs: {
        staging: { instances: 1, port: await freePort() },
        production: { instances: 1, port: await freePort(), extraYaml: 'approval: { count: 1, distinct_from_starter: true }' },
      },
    });
    execFileSync('git', ['init', '-q', '-b', 'main', repo]);
    execFileSync('git', ['-c', 'user.name=Alice', '-c', 'user.email=alice@example.test', 'add', '-A'], { cwd: repo });
    execFileSync('git', ['-c', 'user.name=Alice', '-c', 'user.email=alice@example.test', 'commit', '-q', '-m', 'first release'], { cwd: repo });
    pushed = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repo, encoding: 'utf8' }).trim();
    const yaml = execFileSync('git', ['show', 'HEAD:slipway.yaml'], { cwd: repo, encoding: 'utf8' });
    // The server makes its data directory; the history goes in while it is stopped (it is state.db's only writer).
    const first = await startServerProcess(dataDir, 'server.log', serverEnv());
    await first.stop();
    const store = new StateStore(join(dataDir, 'state.db'));
    try {
      recordHistory(store, `${yaml}pipeline: {}\n`);
    } finally {
      store.close();
    }
    server = await startServerProcess(dataDir, 'server.log', serverEnv());
  }, 120_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('answers a push delivered again with the run of its commit started 600 runs ago, and starts no second run', async () => {
    const body = JSON.stringify({ ref: 'refs/heads/main', after: pushed, pusher: { name: 'dave' } });
    const res = await apiFetch(`${server.url}/api/pipeline/webhook`, {
      method: 'POST', body,
      headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': `sha256=${createHmac('sha256', WEBHOOK_SECRET).update(body).digest('hex')}` },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ duplicate: true, run: { id: PUSHED_RUN, commit: pushed, status: 'succeeded' } });
    expect((await runs('limit=1')).total).toBe(3 + LATER_RUNS);
  });

  it('gives the checklist of a release whose run is older than the newest 500', async () => {
    const res = await apiFetch(`${server.url}/api/checklists/${encodeURIComponent(`${ENV}#1`)}`);
    expect(res.status, await res.clone().text()).toBe(200);
    const checklist = (await res.json()) as ChecklistJson;
    expect(checklist.run).toMatchObject({ id: BUILDER_RUN, artefactDigest: DIGEST });
    expect(checklist.items).toHaveLength(10);
  });

  it('slipway runs --status/--stage lists the same, every page with --all, and refuses a status that is none', async () => {
    const cli = (...args: string[]) => runCli(args, { cwd: work, dataDir });
    const waiting = await cli('--json', 'runs', '--status', 'waiting', '--stage', 'approval');
    expect(waiting.code, waiting.stderr).toBe(0);
    expect((JSON.parse(waiting.stdout) as RunsJson).runs.map((r) => r.id)).toEqual([WAITING_RUN]);
    const failed = await cli('--json', 'runs', '--status', 'failed', '--all');
    expect((JSON.parse(failed.stdout) as RunsJson).runs).toHaveLength(LATER_RUNS);
    const none = await cli('runs', '--status', 'waiting', '--stage', 'build');
    expect([none.code, none.stdout.trim()]).toEqual([0, 'no pipeline run matches']);
    const bad = await cli('runs', '--status', 'stuck');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--status.*stuck.*running, waiting, succeeded, failed/);
  });

  it('lists exactly the runs waiting for approval, and the runs of a status, each counted, paged by `before`', async () => {
    const waiting = await runs('status=waiting&stage=approval');
    expect(waiting.runs.map((r) => [r.id, r.status, r.stage])).toEqual([[WAITING_RUN, 'waiting', 'approval']]);
    expect([waiting.total, waiting.more, waiting.next]).toEqual([1, false, null]);
    expect((await runs('status=waiting&stage=build')).runs).toEqual([]);
    expect((await runs('status=succeeded')).runs.map((r) => r.id)).toEqual([BUILDER_RUN, PUSHED_RUN]);

    const first = await runs('status=failed&limit=500');
    expect([first.runs.length, first.total, first.more, first.next]).toEqual([500, LATER_RUNS, true, 3 + LATER_RUNS - 499]);
    const rest = await runs(`status=failed&limit=500&before=${first.next}`);
    expect([rest.total, rest.more, rest.next]).toEqual([LATER_RUNS, false, null]);
    expect([...first.runs, ...rest.runs].map((r) => r.id)).toEqual(Array.from({ length: LATER_RUNS }, (_, i) => 3 + LATER_RUNS - i));
  });

  it('refuses a status or a stage that is none, naming the parameter, and lists nothing for it', async () => {
    const cases = [
      { query: 'status=paused', field: 'status', message: 'query: status: Invalid option: expected one of "running"|"waiting"|"succeeded"|"failed"' },
      { query: 'status=', field: 'status', message: 'query: status: Invalid option: expected one of "running"|"waiting"|"succeeded"|"failed"' },
      { query: 'stage=deploy', field: 'stage', message: 'query: stage: Invalid option: expected one of "build"|' },
      { query: 'state=waiting', field: 'state', message: 'query: unknown parameter "state" (did you mean "stage"?)' },
    ];
    for (const c of cases) {
      const res = await apiFetch(`${server.url}/api/pipeline/runs?${c.query}`);
      expect(res.status, c.query).toBe(400);
      const { error } = (await res.json()) as { error: { code: string; message: string; details: { field: string } } };
      expect(error, c.query).toMatchObject({ code: 'E_BAD_REQUEST', details: { field: c.field } });
      expect(error.message, c.query).toContain(c.message);
    }
  });

  /** A dashboard page in Chromium, signed in as the admin. */
  const inDashboard = (path: string, look: (page: Page) => Promise<void>) => inSignedInDashboard({ url: server.url, token: adminToken(dataDir)!, path }, look);


  it.skipIf(!existsSync(CHROMIUM) && !process.env.CI)('shows on the overview, under Waiting for approval, a run that waits behind 600 newer runs', async () => {
    await inDashboard('#/', async (page) => {
      const pending = page.getByTestId('pending-approvals');
      await pending.getByTestId(`run-${WAITING_RUN}`).waitFor();
      expect(await pending.locator('tbody tr').count()).toBe(1);
      expect(await pending.getByTestId(`approve-${WAITING_RUN}`).isEnabled()).toBe(true);
    });
  });

  it.skipIf(!existsSync(CHROMIUM) && !process.env.CI)('says on the runs page that it shows only the newest 50, of how many', async () => {
    await inDashboard('#/runs', async (page) => {
      await page.getByTestId('runs-cut').waitFor();
      expect(await page.getByTestId('runs-cut').textContent()).toBe(`Showing the newest 50 of ${3 + LATER_RUNS} runs; slipway runs --all lists every one.`);
      expect(await page.getByTestId('runs').locator('tbody tr').count()).toBe(50);
    });
  });
});
