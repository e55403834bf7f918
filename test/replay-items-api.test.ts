// Replay to staging as a team adopting it for a JSON items API would: production
// serves users who send a bearer token and a `?token=` query value, the router
// records their GETs, POSTs and DELETEs (listed by name, bodies kept), and each
// pipeline run replays the sample to staging. What a person needs from it: no
// credential on disk or in any answer; a staging that cannot answer (down, or
// slower than `timeout`) fails the run naming what it did, rather than passing as
// "inconclusive"; and methods listed by name are replayed where the docs say.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunViewJson } from '../src/cli/api-client.ts';
import { apiFetch, freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';
import { SERVICE } from './support/items-api.ts';

const API_TOKEN = 'tok-7f3a9c2e51d04b68';
const QUERY_TOKEN = 'qv-5e8d1c7b3a90';

describe('replay to staging of an items API: credentials, a staging that cannot answer, methods listed by name', { timeout: 240_000 }, () => {
  let work: string;
  let repo: string;
  let dataDir: string;
  let server: ServerProcess;
  let stagingPort: number;
  let productionPort: number;
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=Alice', '-c', 'user.email=alice@example.test', ...args], { cwd: repo, encoding: 'utf8' }).trim();
  const run = (id: number) => getJson<RunViewJson>(`${server.url}/api/pipeline/runs/${id}`);
  const calls = (env: string) => {
    const f = join(dataDir, 'app-data', 'hello', env, 'calls.log');
    return existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean) : [];
  };
  const replayDir = () => join(dataDir, 'router', 'replay');
  const sampleText = () => (existsSync(replayDir()) ? readdirSync(replayDir()).map((f) => readFileSync(join(replayDir(), f), 'utf8')).join('') : '');

  async function release(stagingMode: string): Promise<RunViewJson> {
    const config = { API_TOKEN, QUERY_TOKEN };
    writeService(repo, {
      envs: {
        staging: { instances: 1, port: stagingPort, config: { ...config, MODE: stagingMode }, extraYaml: 'acceptance: { command: node check.js }' },
        production: {
          instances: 2, port: productionPort, config: { ...config, MODE: 'stable' },
          extraYaml: 'watch: 1s\nrecord: { percent: 100, paths: [/api/*], methods: [GET, POST, DELETE], bodies: true, headers: [accept, content-type], sample: 60 }',
        },
      },
    });
    writeFileSync(join(repo, 'slipway.yaml'), `${readFileSync(join(repo, 'slipway.yaml'), 'utf8')}${[
      'pipeline:',
      '  health_window: 1s',
      '  rollback_drill: false',
      '  replay: { min_requests: 10, max_diff_rate: 1%, timeout: 1s }',
      '',
    ].join('\n')}`);
    git('add', '-A');
    git('commit', '-q', '--allow-empty', '-m', `staging mode ${stagingMode}`);
    const res = await apiFetch(`${server.url}/api/pipeline/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ repo, ref: 'HEAD' }) });
    expect(res.status).toBe(202);
    const id = ((await res.json()) as RunViewJson).run.id;
    let last: RunViewJson | null = null;
    await waitFor(`run #${id} to end`, async () => ['succeeded', 'failed'].includes((last = await run(id)).run.status), 150_000).catch((e: Error) => {
      throw new Error(`${e.message}: ${last?.stages.map((s) => `${s.name}:${s.status}:${s.reason ?? ''}`).join(' | ')}`);
    });
    return last!;
  }

  /** Users of production: reads with a query token, creates and deletes with a bearer token. */
  async function useProduction(): Promise<void> {
    const base = `http://127.0.0.1:${productionPort}`;
    const auth = { authorization: `Bearer ${API_TOKEN}`, accept: 'application/json' };
    for (let i = 0; i < 30; i++) {
      const get = await fetch(`${base}/api/items/${1 + (i % 5)}?token=${QUERY_TOKEN}`, { headers: auth });
      expect(get.status).toBe(200);
      expect(((await get.json()) as { member: boolean }).member).toBe(true);
      if (i % 10 === 0) {
        const post = await fetch(`${base}/api/items`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'new', price: 5 }) });
        expect(post.status).toBe(201);
        const { id } = (await post.json()) as { id: number };
        const del = await fetch(`${base}/api/items/${id}`, { method: 'DELETE', headers: auth });
        expect(del.status).toBe(204);
      }
    }
    await waitFor('the sample to be written', () => sampleText().split('\n').filter(Boolean).length >= 36);
  }

  beforeAll(async () => {
    work = scratchDir('slipway-replay-items-');
    repo = join(work, 'hello');
    dataDir = join(work, '.slipway');
    [stagingPort, productionPort] = [await freePort(), await freePort()];
    writeService(repo, { envs: {} });
    writeFileSync(join(repo, 'server.js'), SERVICE);
    writeFileSync(join(repo, 'check.js'), "const r = await fetch(`${process.env.SLIPWAY_URL}/healthz`);\nprocess.exit(r.ok ? 0 : 1);\n");
    execFileSync('git', ['init', '-q', '-b', 'main', repo]);
    server = await startServerProcess(dataDir, 'server.log', process.env, `127.0.0.1:${await freePort()}`);
    const first = await release('stable');
    expect(first.run.status, JSON.stringify(first.stages.map((s) => [s.name, s.status, s.reason]))).toBe('succeeded');
    await useProduction();
  }, 200_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('keeps no bearer token and no query token on disk, and replays POST and DELETE (listed by name) without credentials to staging and production', async () => {
    const sample = sampleText();
    expect(sample).not.toContain(API_TOKEN);
    expect(sample).not.toContain(QUERY_TOKEN);
    const lines = sample.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { method: string; url: string; headers: Record<string, string> });
    expect(new Set(lines.map((l) => l.method))).toEqual(new Set(['GET', 'POST', 'DELETE']));
    expect(lines.every((l) => l.headers['authorization'] === undefined)).toBe(true);
    const prodBefore = calls('production').length;
    const v = await release('stable');
    expect(v.run.status, JSON.stringify(v.stages.map((s) => [s.name, s.status, s.reason]))).toBe('succeeded');
    // As replay.md says: a method listed by name is replayed to staging and twice to production, without credentials.
    const replayed = (env: string) => calls(env).filter((c) => c.includes(' replay '));
    expect(replayed('staging').some((c) => / POST \/api\/items replay anon$/.test(c))).toBe(true);
    expect(replayed('staging').some((c) => / DELETE \/api\/items\/\d+ replay anon$/.test(c))).toBe(true);
    const prodReplayed = calls('production').slice(prodBefore).filter((c) => c.includes(' replay '));
    expect(prodReplayed.filter((c) => c.includes(' POST ')).length).toBe(2 * replayed('staging').filter((c) => c.includes(' POST ')).length);
    expect(replayed('staging').every((c) => c.endsWith(' anon'))).toBe(true);
    const out = await runCli(['runs', 'show', String(v.run.id), '--output'], { cwd: repo, dataDir });
    const logs = ['server.log'].map((f) => readFileSync(join(work, f), 'utf8')).join('') + (existsSync(join(dataDir, 'router', 'router.log')) ? readFileSync(join(dataDir, 'router', 'router.log'), 'utf8') : '');
    for (const text of [out.stdout + out.stderr, JSON.stringify(v), logs]) {
      expect(text).not.toContain(API_TOKEN);
      expect(text).not.toContain(QUERY_TOKEN);
    }
  });

  it('fails the run when staging answers no replayed request within timeout, saying staging did not answer, instead of passing as inconclusive', async () => {
    const v = await release('slow');
    const stage = v.stages.find((s) => s.name === 'replay')!;
    expect(stage.status, stage.reason ?? '').toBe('failed');
    expect(v.run.stage).toBe('replay');
    expect(stage.reason).toMatch(/staging#\d+ did not answer/);
    expect(stage.reason).toContain('GET /api/items/:id');
    expect(stage.reason).toMatch(/timeout|1000 ms|1 s/);
    const out = await runCli(['runs', 'show', String(v.run.id), '--output'], { cwd: repo, dataDir });
    expect(out.stdout).toMatch(/staging#\d+ did not answer/);
  });

  it('fails the run when staging cuts every replayed request\'s connection, naming the endpoints', async () => {
    const v = await release('reset');
    const stage = v.stages.find((s) => s.name === 'replay')!;
    expect(stage.status, stage.reason ?? '').toBe('failed');
    expect(stage.reason).toMatch(/staging#\d+ did not answer/);
    expect(stage.reason).toContain('GET /api/items/:id');
  });
});
