// Long lists, paged: an environment with 1201 releases and a server with 1001
// pipeline runs, recorded through the real store into a real state.db (deploying
// that many times would take an hour), then read through a real server, its API and
// the real CLI. Nothing is cut without saying so: each page tells how many there are
// in all, whether more follow and the cursor that asks for them, and a wrong page
// request is refused naming the parameter.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReleasesJson, RunsJson } from '../src/api/views.ts';
import { releaseAnswers } from '../src/api/release-answers.ts';
import { parseConfigText } from '../src/config/index.ts';
import type { ReleaseConfig } from '../src/core/records.ts';
import { readModels } from '../src/engine/read-models.ts';
import { fetchReleases } from '../src/cli/release-output.ts';
import { StateStore } from '../src/store/state-store.ts';
import { adminToken, apiFetch, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, type ServerProcess } from './support/harness.ts';
import { CHROMIUM, inSignedInDashboard } from './support/dashboard-page.ts';

const ENV = 'hello/production';
const RELEASES = 1201;
const RUNS = 1001;

const YAML = `service: hello
run: { command: node server.js }
environments:
  production: { instances: 1, listen: 127.0.0.1:1 }
`;

/** Records `RELEASES` releases of hello/production and `RUNS` finished pipeline runs, as the server would. */
function recordHistory(store: StateStore): void {
  const config = parseConfigText(YAML, 'slipway.yaml');
  const { environments, ...rest } = config;
  const releaseConfig: ReleaseConfig = { ...rest, environment: environments.production!, configVersion: null, overrides: {}, secrets: {} };
  const digest = `sha256:${'a'.repeat(64)}`;
  store.atomically(() => {
    store.ensureEnvironment(ENV);
    store.putArtefact({ digest, service: 'hello', bytes: 1, path: '/nowhere.tar.gz', createdAt: 1 });
    for (let i = 1; i <= RELEASES; i++) {
      store.insertRelease({ env: ENV, service: 'hello', artefactDigest: digest, config: releaseConfig, configHash: `sha256:${String(i).padStart(64, '0')}`, dir: `/nowhere/${i}`, createdAt: i * 1000, createdBy: 'alice' });
    }
    const configText = JSON.stringify({ subdir: '', config });
    for (let i = 1; i <= RUNS; i++) {
      store.pipeline.insertRun({
        service: 'hello', repo: '/nowhere', ref: 'main', commit: String(i).padStart(40, '0'), version: `1.0.${i}`, status: 'failed', stage: 'build', reason: 'recorded by the test',
        startedBy: 'alice', createdAt: i * 1000, updatedAt: i * 1000, finishedAt: i * 1000, configText, artefactDigest: null, attempt: 1,
      });
    }
  });
}

describe('releases and pipeline runs, paged', { timeout: 120_000 }, () => {
  let work: string;
  let dataDir: string;
  let server: ServerProcess;
  const cli = (...args: string[]) => runCli(args, { cwd: work, dataDir });
  const api = (path: string) => apiFetch(`${server.url}${path}`);

  beforeAll(async () => {
    work = scratchDir('slipway-list-paging-');
    dataDir = join(work, '.slipway');
    // The server makes its data directory; the history goes in while it is stopped (it is state.db's only writer).
    const first = await startServerProcess(dataDir);
    await first.stop();
    const store = new StateStore(join(dataDir, 'state.db'));
    try {
      recordHistory(store);
    } finally {
      store.close();
    }
    server = await startServerProcess(dataDir);
  }, 120_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('answers the newest 50 releases and says how many there are, that more follow, and from where', async () => {
    const r = await getJson<ReleasesJson>(`${server.url}/api/environments/${encodeURIComponent(ENV)}/releases`);
    expect(r.releases.map((x) => x.number)).toEqual(Array.from({ length: 50 }, (_, i) => RELEASES - i));
    expect({ total: r.total, more: r.more, next: r.next }).toEqual({ total: RELEASES, more: true, next: RELEASES - 49 });
  });

  it('slipway releases says at its end that it shows only the newest, and --json carries the page and its paging', async () => {
    const r = await cli('releases', ENV);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.filter((l) => /^[ *] #\d+ /.test(l))).toHaveLength(50);
    expect(lines.at(-1)).toBe(`showing newest 50 of ${RELEASES}; --all for every release`);

    const json = await cli('--json', 'releases', ENV);
    expect(json.code, json.stderr).toBe(0);
    const answer = JSON.parse(json.stdout) as ReleasesJson;
    expect(answer.releases).toHaveLength(50);
    expect({ total: answer.total, more: answer.more, next: answer.next }).toEqual({ total: RELEASES, more: true, next: RELEASES - 49 });
  });

  it.skipIf(!existsSync(CHROMIUM) && !process.env.CI)('the dashboard\'s releases page says it shows only the newest and how many there are', async () => {
    await inSignedInDashboard({ url: server.url, token: adminToken(dataDir)!, path: `#/env/${encodeURIComponent(ENV)}/releases` }, async (page) => {
      await page.getByTestId('releases-cut').waitFor();
      expect(await page.getByTestId('releases-cut').textContent()).toBe(`Showing the newest 50 of ${RELEASES} releases; slipway releases ${ENV} --all lists every one.`);
      expect(await page.getByTestId('releases').locator('tbody tr').count()).toBe(50);
    });
  });

  it('pages through every release by each page\'s cursor, each once, newest first; a cursor naming no release is refused', () => {
    const store = new StateStore(join(dataDir, 'state.db'));
    try {
      const answers = releaseAnswers(readModels(store));
      const second = answers.list(ENV, { limit: 500, before: 701 });
      expect(second.releases.map((x) => x.number)).toEqual(Array.from({ length: 500 }, (_, i) => 700 - i));
      expect({ total: second.total, more: second.more, next: second.next }).toEqual({ total: RELEASES, more: true, next: 201 });
      const last = answers.list(ENV, { limit: 500, before: 201 });
      expect({ count: last.releases.length, more: last.more, next: last.next }).toEqual({ count: 200, more: false, next: null });
      expect(() => answers.list(ENV, { limit: 50, before: RELEASES + 1 })).toThrow(`query: before: ${ENV} has no release #${RELEASES + 1}`);
    } finally {
      store.close();
    }
  });

  it('the CLI\'s --all walks every page into one list', async () => {
    const store = new StateStore(join(dataDir, 'state.db'));
    try {
      const answers = releaseAnswers(readModels(store));
      const asked: (number | undefined)[] = [];
      const all = await fetchReleases(async (env, q = {}) => {
        const before = q.before === undefined ? undefined : Number(q.before);
        asked.push(before);
        return answers.list(env, { limit: Number(q.limit ?? 50), before });
      }, ENV, { all: true });
      expect(asked).toEqual([undefined, RELEASES - 499, RELEASES - 999]);
      expect(all.releases.map((x) => x.number)).toEqual(Array.from({ length: RELEASES }, (_, i) => RELEASES - i));
      expect({ total: all.total, more: all.more, next: all.next }).toEqual({ total: RELEASES, more: false, next: null });
    } finally {
      store.close();
    }
  });

  it('pages through the pipeline runs by `before`, each run once, newest first', async () => {
    const seen: number[] = [];
    let before: number | null = null;
    let pages = 0;
    do {
      const r: RunsJson = await getJson<RunsJson>(`${server.url}/api/pipeline/runs?limit=300${before === null ? '' : `&before=${before}`}`);
      expect(r.total).toBe(RUNS);
      seen.push(...r.runs.map((x) => x.id));
      before = r.next;
      expect(r.more).toBe(before !== null);
      pages++;
    } while (before !== null);
    expect(pages).toBe(4);
    expect(seen).toEqual(Array.from({ length: RUNS }, (_, i) => RUNS - i));
  });

  it('slipway runs says when it shows only the newest, and its --limit asks the server for that many', async () => {
    const r = await cli('runs', 'list', '--limit', '5');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.slice(0, 5).map((l) => l.split(' ')[0])).toEqual(['#1001', '#1000', '#999', '#998', '#997']);
    expect(lines.at(-1)).toBe(`showing newest 5 of ${RUNS}; --all for every run`);
  });

  it('answers the page of releases asked for by limit and before, and refuses a wrong one naming the parameter', async () => {
    const path = `/api/environments/${encodeURIComponent(ENV)}/releases`;
    const page = (await (await api(`${path}?limit=3&before=100`)).json()) as ReleasesJson;
    expect([page.releases.map((x) => x.number), page.total, page.more, page.next]).toEqual([[99, 98, 97], RELEASES, true, 97]);
    const cases = [
      { query: 'limit=0', field: 'limit', message: 'query: limit: Too small: expected number to be >=1' },
      { query: 'limit=501', field: 'limit', message: 'query: limit: Too big: expected number to be <=500' },
      { query: 'limit=ten', field: 'limit', message: 'query: limit: expected a whole number, in digits' },
      { query: `before=${RELEASES + 1}`, field: 'before', message: `query: before: ${ENV} has no release #${RELEASES + 1}; give the \`next\` of the page before (see slipway releases ${ENV})` },
    ];
    for (const c of cases) {
      const res = await api(`${path}?${c.query}`);
      expect(res.status, c.query).toBe(400);
      expect(((await res.json()) as { error: { code: string; message: string; details: { field: string } } }).error, c.query).toMatchObject({ code: 'E_BAD_REQUEST', message: c.message, details: { field: c.field } });
    }
  });

  it('slipway releases --limit N shows the newest N, --all every release without the note, and --json --all the whole list', async () => {
    const five = await cli('releases', ENV, '--limit', '5');
    expect(five.code, five.stderr).toBe(0);
    expect(five.stdout.trimEnd().split('\n').filter((l) => /^[ *] #\d+ /.test(l)).map((l) => l.trim().split(' ')[0])).toEqual(['#1201', '#1200', '#1199', '#1198', '#1197']);
    expect(five.stdout.trimEnd().split('\n').at(-1)).toBe(`showing newest 5 of ${RELEASES}; --all for every release`);
    const all = await cli('releases', ENV, '--all');
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout.trimEnd().split('\n').filter((l) => /^[ *] #\d+ /.test(l))).toHaveLength(RELEASES);
    expect(all.stdout).not.toContain('showing newest');
    const json = JSON.parse((await cli('--json', 'releases', ENV, '--all')).stdout) as ReleasesJson;
    expect([json.releases.length, json.total, json.more, json.next]).toEqual([RELEASES, RELEASES, false, null]);
    const both = await cli('releases', ENV, '--all', '--limit', '5');
    expect(both.code).not.toBe(0);
    expect(both.stderr).toContain('give --limit N or --all, not both');
    const tooMany = await cli('releases', ENV, '--limit', '501');
    expect(tooMany.code).not.toBe(0);
    expect(tooMany.stderr).toContain('query: limit: Too big: expected number to be <=500');
  });

  it('slipway runs --all lists every run', async () => {
    const json = JSON.parse((await cli('--json', 'runs', 'list', '--all')).stdout) as RunsJson;
    expect(json.runs.map((r) => r.id)).toEqual(Array.from({ length: RUNS }, (_, i) => RUNS - i));
    expect([json.total, json.more, json.next]).toEqual([RUNS, false, null]);
  });

  it('refuses a wrong page of runs naming the parameter: a limit of 0, 501 or abc, a run that does not exist', async () => {
    const cases = [
      { query: 'limit=0', field: 'limit', message: 'query: limit: Too small: expected number to be >=1' },
      { query: 'limit=501', field: 'limit', message: 'query: limit: Too big: expected number to be <=500' },
      { query: 'limit=abc', field: 'limit', message: 'query: limit: expected a whole number, in digits' },
      { query: 'before=0', field: 'before', message: 'query: before: Too small: expected number to be >0' },
      { query: `before=${RUNS + 1}`, field: 'before', message: `query: before: there is no run #${RUNS + 1}; give the \`next\` of the page before (see slipway runs)` },
    ];
    for (const c of cases) {
      const res = await api(`/api/pipeline/runs?${c.query}`);
      expect(res.status, c.query).toBe(400);
      expect(((await res.json()) as { error: { code: string; message: string; details: { field: string } } }).error, c.query).toMatchObject({ code: 'E_BAD_REQUEST', message: c.message, details: { field: c.field } });
    }
    const bad = await cli('runs', 'list', '--limit', '0');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--limit');
  });
});
