// Replay to staging on real processes: production (two instances behind the real
// router) serves users; the router records a sample of their GETs, anonymised and
// bounded on disk; each pipeline run replays the sample against staging's new
// release and production's stable release after acceptance. A staging release that
// changes one JSON field of one endpoint fails the run, naming that field; one whose
// answers differ only in timestamps and random ids passes. A POST is never recorded,
// nor replayed (the service counts the calls it gets). /metrics counts the requests
// picked for recording, kept or why not.

import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunViewJson } from '../src/cli/api-client.ts';
import { apiFetch, freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';
import { sampleSum } from './support/prom-text.ts';

const TOKEN = 'Bearer s3cr3t-user-token-0042';
const QUERY_TOKEN = 'qt-77aa11bb';
const EMAIL = 'jane.doe@example.test';

describe('replay of recorded production requests against staging', { timeout: 180_000 }, () => {
  let work: string;
  let repo: string;
  let dataDir: string;
  let server: ServerProcess;
  let stagingPort: number;
  let productionPort: number;
  const sampleFiles = () => ['hello%2Fproduction.1.jsonl', 'hello%2Fproduction.jsonl'].map((f) => join(dataDir, 'router', 'replay', f));
  const sampleText = () => sampleFiles().map((f) => (existsSync(f) ? readFileSync(f, 'utf8') : '')).join('');
  const stagingCalls = () => {
    const f = join(dataDir, 'app-data', 'hello', 'staging', 'calls.log');
    return existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean) : [];
  };
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=Alice', '-c', 'user.email=alice@example.test', ...args], { cwd: repo, encoding: 'utf8' }).trim();
  const run = (id: number) => getJson<RunViewJson>(`${server.url}/api/pipeline/runs/${id}`);

  /** Commits slipway.yaml with staging's MODE (the shadow fixture's: stable, price, same-answers) and releases it. */
  async function release(stagingMode: string): Promise<RunViewJson> {
    writeService(repo, {
      envs: {
        staging: { instances: 1, port: stagingPort, config: { MODE: stagingMode }, extraYaml: 'acceptance: { command: node check.js }' },
        production: {
          instances: 2, port: productionPort, config: { MODE: 'stable' },
          extraYaml: 'watch: 1s\nrecord: { percent: 100, paths: [/api/*], headers: [accept], anonymise: ["item-secret-[0-9]+"], sample: 40, max_bytes: 4kb }',
        },
      },
    });
    writeFileSync(join(repo, 'slipway.yaml'), `${readFileSync(join(repo, 'slipway.yaml'), 'utf8')}${[
      'pipeline:',
      '  health_window: 1s',
      '  rollback_drill: false',
      '  replay: { min_requests: 10, max_diff_rate: 1% }',
      '',
    ].join('\n')}`);
    git('add', '-A');
    git('commit', '-q', '--allow-empty', '-m', `staging mode ${stagingMode}`);
    const res = await apiFetch(`${server.url}/api/pipeline/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ repo, ref: 'HEAD' }) });
    expect(res.status).toBe(202);
    const id = ((await res.json()) as RunViewJson).run.id;
    let last: RunViewJson | null = null;
    await waitFor(`run #${id} to end`, async () => ['succeeded', 'failed'].includes((last = await run(id)).run.status), 120_000).catch((e: Error) => {
      throw new Error(`${e.message}: ${last?.stages.map((s) => `${s.name}:${s.status}:${s.reason ?? ''}`).join(' | ')}`);
    });
    return last!;
  }

  beforeAll(async () => {
    work = scratchDir('slipway-replay-');
    repo = join(work, 'hello');
    dataDir = join(work, '.slipway');
    [stagingPort, productionPort] = [await freePort(), await freePort()];
    writeService(repo, { envs: {} });
    copyFileSync(join(import.meta.dirname, 'fixtures', 'shadow-service', 'server.js'), join(repo, 'server.js'));
    writeFileSync(join(repo, 'check.js'), "const r = await fetch(`${process.env.SLIPWAY_URL}/api/items/1`);\nprocess.exit(r.ok ? 0 : 1);\n");
    execFileSync('git', ['init', '-q', '-b', 'main', repo]);
    server = await startServerProcess(dataDir);
  }, 90_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('records production\'s GETs, bounded on disk, anonymised, and never a POST', async () => {
    const first = await release('stable');
    expect(first.run.status, JSON.stringify(first.stages.map((s) => [s.name, s.status, s.reason]))).toBe('succeeded');
    // Nothing to compare with before production's first release.
    expect(first.stages.find((s) => s.name === 'replay')).toMatchObject({ status: 'skipped' });

    const base = `http://127.0.0.1:${productionPort}`;
    let posts = 0;
    for (let i = 0; i < 120; i++) {
      if (i % 6 === 5) {
        const res = await fetch(`${base}/api/orders`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: TOKEN }, body: JSON.stringify({ i }) });
        expect(res.status).toBe(201);
        await res.arrayBuffer();
        posts++;
        continue;
      }
      const path = i % 6 === 4 ? `/api/list?email=${encodeURIComponent(EMAIL)}` : `/api/items/${i % 20}?access_token=${QUERY_TOKEN}&ref=item-secret-${i}&page=2`;
      const res = await fetch(`${base}${path}`, { headers: { authorization: TOKEN, cookie: 'session=abc123', accept: 'application/json' } });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
    // The keeper appends what its workers send every 200 ms.
    await waitFor('the sample to be written', () => sampleText().split('\n').filter(Boolean).length >= 10);
    await new Promise((r) => setTimeout(r, 500));
    const text = sampleText();
    const lines = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { method: string; url: string; headers: Record<string, string> });
    // Bounded: at most `sample` requests and `max_bytes` on disk, however many were served.
    expect(lines.length).toBeGreaterThanOrEqual(10);
    expect(lines.length).toBeLessThanOrEqual(40);
    expect(sampleFiles().reduce((n, f) => n + (existsSync(f) ? statSync(f).size : 0), 0)).toBeLessThanOrEqual(4 * 1024);
    expect((statSync(sampleFiles()[1]!).mode & 0o777).toString(8)).toBe('600');
    // Anonymised before it touched disk: no credential, no token in a query, no e-mail, nothing the configured pattern matches.
    for (const secret of ['s3cr3t-user-token', QUERY_TOKEN, EMAIL, 'jane.doe', 'item-secret-', 'abc123', 'Bearer']) expect(text).not.toContain(secret);
    expect(lines.every((l) => l.method === 'GET' && l.url.startsWith('/api/'))).toBe(true);
    expect(lines.every((l) => Object.keys(l.headers).join() === 'accept' && l.headers.accept === 'application/json')).toBe(true);
    expect(lines.find((l) => l.url.startsWith('/api/items/'))?.url).toMatch(/^\/api\/items\/\d+\?access_token=__anonymised__&ref=__anonymised__&page=2$/);
    expect(posts).toBe(20);
  });

  it('counts in /metrics the requests picked for recording: kept, and a GET with a body (bodies off) as too_large', async () => {
    const m = 'slipway_router_recorded_requests_total';
    const env = 'hello/production';
    const outcome = async (o: string) => sampleSum(await (await apiFetch(`${server.url}/metrics`)).text(), m, { env, outcome: o });
    const tooLarge = await outcome('too_large');
    // Recorded only with its body, and bodies are off: a request replayed without it would be another request.
    for (let i = 0; i < 3; i++) {
      const res = await request(`http://127.0.0.1:${productionPort}/api/items/${i}`, { method: 'GET', body: '{"filter":"x"}', headers: { 'content-type': 'application/json' } });
      expect(res.statusCode).toBe(200);
      await res.body.text();
    }
    // The server samples the router's counters about every second.
    await waitFor('the too_large records in /metrics', async () => (await outcome('too_large')) === tooLarge + 3);
    // Every GET of the test before was picked (percent: 100) and kept, or dropped for
    // newer ones when more than `sample` (40) came within one of the keeper's writes.
    expect((await outcome('kept')) + (await outcome('dropped_overflow'))).toBeGreaterThanOrEqual(100);
    expect(await outcome('kept')).toBeGreaterThanOrEqual(40);
    for (const o of ['not_text', 'too_slow', 'queue_full', 'thread_failed', 'dropped_stopped', 'dropped_write_failed']) expect(await outcome(o), o).toBe(0);
  });

  it('counts a request whose recorded line alone is over half of max_bytes as too_large, not kept, and writes none of it', async () => {
    const m = 'slipway_router_recorded_requests_total';
    const outcome = async (o: string) => sampleSum(await (await apiFetch(`${server.url}/metrics`)).text(), m, { env: 'hello/production', outcome: o });
    const [kept, tooLarge] = [await outcome('kept'), await outcome('too_large')];
    // max_bytes 4kb: a file takes 2 KiB at most, so a 3 kB URL's line fits in neither.
    const long = Array.from({ length: 400 }, (_, i) => `p${i}=1`).join('&');
    for (let i = 0; i < 3; i++) {
      const res = await request(`http://127.0.0.1:${productionPort}/api/items/${i}?long=${i}&${long}`);
      expect(res.statusCode).toBe(200);
      await res.body.text();
    }
    await waitFor('the too_large records in /metrics', async () => (await outcome('too_large')) === tooLarge + 3, 10_000);
    expect(await outcome('kept')).toBe(kept);
    expect(sampleText()).not.toContain('long=');
  });

  it('fails a staging release that changes one JSON field of one endpoint, naming the field', async () => {
    const recorded = sampleText();
    const v = await release('price');
    expect(v.run.status).toBe('failed');
    expect(v.run.stage).toBe('replay');
    const stage = v.stages.find((s) => s.name === 'replay')!;
    expect(stage.status).toBe('failed');
    expect(stage.reason).toContain('GET /api/items/:id /body/price');
    const verdict = stage.data['replay'] as { decision: string; fields: { endpoint: string; field: string }[]; examples: { field: string; stable: string; candidate: string; url: string }[] };
    expect(verdict.decision).toBe('fail');
    // Timestamps and random ids (noise from two stable answers) and the unchanged list are not named.
    expect(verdict.fields.map((f) => `${f.endpoint} ${f.field}`)).toEqual(['GET /api/items/:id /body/price']);
    expect(Number(verdict.examples[0]!.candidate)).toBe(Number(verdict.examples[0]!.stable) + 1);
    expect(JSON.stringify(stage)).not.toContain(QUERY_TOKEN);
    // Staging was deployed, production was not touched, and the run stopped before staging health.
    expect(v.stages.find((s) => s.name === 'staging_health')!.status).toBe('pending');
    // Replayed requests go to the instances, not through the router: nothing new was recorded.
    expect(sampleText()).toBe(recorded);
    const cli = await runCli(['runs', 'show', String(v.run.id)], { cwd: repo, dataDir });
    expect(cli.stdout).toMatch(/replay +failed.*GET \/api\/items\/:id \/body\/price/);
  });

  it('passes a staging release whose answers differ only in timestamps and random ids, and replays no POST', async () => {
    const v = await release('same-answers');
    const stage = v.stages.find((s) => s.name === 'replay')!;
    expect(stage.status, stage.reason ?? '').toBe('succeeded');
    const verdict = stage.data['replay'] as { decision: string; compared: number; differing: number };
    expect(verdict).toMatchObject({ decision: 'pass', differing: 0 });
    expect(verdict.compared).toBeGreaterThanOrEqual(10);
    expect(v.run.status).toBe('succeeded');
    // The staging service counts every POST it gets: none came from the replay.
    expect(stagingCalls()).toEqual([]);
  });
});
