// Observability on real processes: instance logs through the log relay (follow,
// filters), /metrics read with a Prometheus text parser while real traffic flows,
// the SSE stream resumed with Last-Event-ID, and webhooks (a live receiver, a
// hanging one, a refused one) through a canary that the analysis rolls back.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createParser } from 'eventsource-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTraffic, type Traffic } from '../src/cli/traffic.ts';
import type { SlipwayEvent } from '../src/core/events.ts';
import { promtoolProblems, sampleSum } from './support/prom-text.ts';
import { apiFetch, BIN, freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';
import { allowInPolicy, LOOPBACK_ALLOWED } from './support/admin-policy.ts';

interface Receiver {
  url: string;
  bodies: { at: number; type: string; body: Record<string, unknown> }[];
  hanging: ServerResponse[];
  server: Server;
}

/** A webhook receiver on loopback; `hang` ones read the request and never answer. */
async function startReceiver(hang = false): Promise<Receiver> {
  const r: Receiver = { url: '', bodies: [], hanging: [], server: null as unknown as Server };
  r.server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      r.bodies.push({ at: Date.now(), type: String(req.headers['x-slipway-event']), body: JSON.parse(text) as Record<string, unknown> });
      if (hang) r.hanging.push(res);
      else res.end('ok');
    });
  });
  await new Promise<void>((ok) => r.server.listen(0, '127.0.0.1', ok));
  const a = r.server.address();
  r.url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/hooks/secret-path-123`;
  return r;
}

const metricSum = sampleSum;

describe('observability', () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let port: number;
  let traffic: Traffic | null = null;
  let live: Receiver;
  let dead: Receiver;
  /** Its URL is never in slipway.yaml: the server reads it from SLIPWAY_SECRET_HELLO_STAGING_HOOK_URL. */
  let secretHook: Receiver;
  let refusedUrl: string;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir, timeoutMs: 120_000 });

  const notificationsYaml = () => `notifications:
  - url: ${live.url}
    events: [rollout.*, analysis.result, rollback.automatic]
  - url: ${dead.url}
    timeout: 20s
    attempts: 2
  - url: ${refusedUrl}
    format: slack
    events: [rollout.started]
    attempts: 2
  - url_from: { env: SLIPWAY_SECRET_HELLO_STAGING_HOOK_URL }
    events: [rollout.failed]`;

  beforeAll(async () => {
    work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    port = await freePort();
    live = await startReceiver();
    dead = await startReceiver(true);
    secretHook = await startReceiver();
    refusedUrl = `http://127.0.0.1:${await freePort()}/nobody-listens`;
    server = await startServerProcess(dataDir, 'server.log', { ...process.env, SLIPWAY_SECRET_HELLO_STAGING_HOOK_URL: secretHook.url });
    // Receivers on loopback are the admin's to allow (issue 19): refused by default.
    await allowInPolicy({ cwd: work, dataDir, yaml: LOOPBACK_ALLOWED });
    writeService(app, { version: '1.0.0', envs: { staging: { instances: 2, port, config: { LOG_EVERY_REQUEST: '1' }, extraYaml: notificationsYaml() } } });
    const r = await cli('deploy', 'staging');
    expect(r.code, r.stdout + r.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await traffic?.stop();
    for (const res of dead?.hanging ?? []) res.destroy();
    await shutdownEverything(server?.url ?? null, dataDir);
    for (const r of [live, dead]) r?.server.close();
  });

  it('`logs --follow` shows a line the service writes within a second', async () => {
    const child = spawn(process.execPath, [BIN, '--data-dir', dataDir, '--json', 'logs', 'staging', '-f', '-n', '1'], { cwd: app, env: { ...process.env, NO_COLOR: '1', SLIPWAY_SERVER: '' } });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    try {
      // Connected once it prints the newest record it had.
      await waitFor('the follower to connect', () => out.length > 0, 30_000);
      const marker = `follow-${Date.now()}`;
      await fetch(`http://127.0.0.1:${port}/${marker}`);
      const sent = Date.now();
      await waitFor('the line to be shown', () => out.includes(marker), 5000);
      expect(Date.now() - sent).toBeLessThan(1000);
      const rec = out.split('\n').filter((l) => l.includes(marker)).map((l) => JSON.parse(l) as { env: string; release: number; instance: string; stream: string; fields: Record<string, unknown> })[0]!;
      expect(rec).toMatchObject({ env: 'hello/staging', release: 1, stream: 'stdout', fields: { msg: 'request', path: `/${marker}` } });
      expect(rec.instance).toMatch(/^hello\.staging-1-/);
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('--grep, --since, --level and --release filter the records', async () => {
    await fetch(`http://127.0.0.1:${port}/early-grep-me`);
    await new Promise((r) => setTimeout(r, 1500));
    const cut = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 50));
    await fetch(`http://127.0.0.1:${port}/late-grep-me`);
    await fetch(`http://127.0.0.1:${port}/not-this-one`);
    type Rec = { msg: string; ts: number; release: number; fields?: { path?: string } };
    const api = async (q: Record<string, string>) =>
      (await getJson<{ records: Rec[] }>(`${server.url}/api/environments/staging/logs?${new URLSearchParams(q)}`)).records;
    const paths = (rs: Rec[]) => rs.map((r) => r.fields?.path);
    await waitFor('the lines to be logged', async () => (await api({ grep: 'not-this-one' })).length === 1, 10_000);
    // Through the CLI, as a user would.
    const grep = await cli('--json', 'logs', 'staging', '--grep', 'grep-me');
    expect(paths(grep.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Rec))).toEqual(['/early-grep-me', '/late-grep-me']);
    const since = await cli('--json', 'logs', 'staging', '--grep', 'grep-me', '--since', cut);
    expect(paths(since.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Rec))).toEqual(['/late-grep-me']);
    const human = await cli('logs', 'staging', '--grep', 'late-grep-me', '--release', '1');
    expect(human.stdout).toMatch(/staging-1-\S+ INFO {2}request \{.*"path":"\/late-grep-me"/);
    // The same filters through the API.
    expect(paths(await api({ grep: 'grep-me', since: '10m' }))).toEqual(['/early-grep-me', '/late-grep-me']);
    expect(paths(await api({ grep: 'grep-me', since: String(Date.parse(cut)) }))).toEqual(['/late-grep-me']);
    expect(await api({ level: 'error' })).toEqual([]);
    expect(await api({ release: '7' })).toEqual([]);
    expect(await api({ release: '1', grep: 'late-grep-me' })).toHaveLength(1);
    expect((await api({ lines: '3' })).length).toBe(3);
    for (const bad of ['level=loud', 'since=yesterday-ish', 'lines=0', 'colour=red']) {
      const res = await apiFetch(`${server.url}/api/environments/staging/logs?${bad}`);
      expect(res.status, bad).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('E_BAD_REQUEST');
    }
    const badCli = await cli('logs', 'staging', '--since', 'yesterday-ish');
    expect(badCli.code).not.toBe(0);
    expect(badCli.stderr).toMatch(/--since/);
  }, 180_000); // four CLI runs: each is a Node start, slow on a loaded machine

  it('/metrics parses as Prometheus text and its counters move with traffic', async () => {
    const scrape = async () => {
      const res = await apiFetch(`${server.url}/metrics`);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      return res.text();
    };
    const before = await scrape();
    expect(promtoolProblems(before)).toBe('');
    const families = new Set(before.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]));
    for (const name of ['slipway_rollouts', 'slipway_instances', 'slipway_router_requests_total', 'slipway_router_request_duration_seconds', 'slipway_rollout_step_duration_seconds', 'slipway_pipeline_stage_duration_seconds']) {
      expect(families.has(name), name).toBe(true);
    }
    expect(metricSum(before, 'slipway_instances', { env: 'hello/staging', release: '1', state: 'ready' })).toBe(2);
    expect(metricSum(before, 'slipway_rollouts', { env: 'hello/staging', phase: 'succeeded' })).toBe(1);
    const requests0 = metricSum(before, 'slipway_router_requests_total', { env: 'hello/staging', release: '1' });
    const latency0 = metricSum(before, 'slipway_router_request_duration_seconds_count', { env: 'hello/staging', release: '1' });
    // Four at a time: the point is the count, not load.
    for (let i = 0; i < 40; i += 4) await Promise.all([0, 1, 2, 3].map((k) => fetch(`http://127.0.0.1:${port}/m${i + k}`).then((r) => r.text())));
    let after = '';
    await waitFor('the counters to move', async () => {
      after = await scrape();
      return metricSum(after, 'slipway_router_requests_total', { env: 'hello/staging', release: '1' }) >= requests0 + 40;
    }, 15_000);
    expect(promtoolProblems(after)).toBe('');
    expect(metricSum(after, 'slipway_router_request_duration_seconds_count', { env: 'hello/staging', release: '1' })).toBeGreaterThanOrEqual(latency0 + 40);
    expect(metricSum(after, 'slipway_router_request_duration_seconds_bucket', { env: 'hello/staging', release: '1', le: '+Inf' })).toBeGreaterThanOrEqual(latency0 + 40);
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ready: true, checks: { state: 'ok', router: 'ok' } });
    const router = JSON.parse(readFileSync(join(dataDir, 'router', 'router.json'), 'utf8')) as { adminUrl: string };
    expect((await fetch(`${router.adminUrl}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${router.adminUrl}/readyz`)).json()).toEqual({ ready: true });
    // Every API call has a request id: the caller's, or a new one; the server's log lines carry it.
    const traced = await apiFetch(`${server.url}/api/environments`, { headers: { 'x-request-id': 'trace-me-42' } });
    expect(traced.headers.get('x-request-id')).toBe('trace-me-42');
    expect((await apiFetch(`${server.url}/api/environments`)).headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    await waitFor('the request id in the server log', () => readFileSync(join(work, 'server.log'), 'utf8').includes('"reqId":"trace-me-42"'), 5000);
  });

  it('an SSE client that reconnects with Last-Event-ID misses no event; a canary rolled back reaches the webhook, a hanging one does not slow it', async () => {
    const startId = new Database(join(dataDir, 'state.db'), { readonly: true }).prepare('SELECT COALESCE(MAX(id), 0) AS id FROM events').get() as { id: number };
    const seen: SlipwayEvent[] = [];
    /** Reads the stream until `stop()` resolves; `lastId` resumes it. */
    const connect = (lastId: number | null) => {
      const ctl = new AbortController();
      const done = (async () => {
        const res = await apiFetch(`${server.url}/api/events${lastId === null ? `?after=${startId.id}` : ''}`, {
          signal: ctl.signal, headers: lastId === null ? {} : { 'last-event-id': String(lastId) },
        });
        expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
        const parser = createParser({ onEvent: (ev) => seen.push(JSON.parse(ev.data) as SlipwayEvent) });
        const decoder = new TextDecoder();
        try {
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
        } catch {
          // aborted
        }
      })();
      return { stop: async () => { ctl.abort(); await done; } };
    };
    let sse = connect(null);
    // And the CLI's own follower, as a user would watch.
    const watcher = spawn(process.execPath, [BIN, '--data-dir', dataDir, '--json', 'events', '--env', 'staging', '--types', 'rollout.*,rollback.automatic', '--after', String(startId.id)], { cwd: app, env: { ...process.env, NO_COLOR: '1', SLIPWAY_SERVER: '' } });
    let watched = '';
    watcher.stdout.on('data', (c: Buffer) => (watched += c.toString()));

    writeService(app, { version: '2.0.0', envs: { staging: { instances: 2, port, config: { LOG_EVERY_REQUEST: '0', FAIL_RATE: '0.4' }, extraYaml: notificationsYaml(), strategyYaml: 'type: canary\nsteps:\n  - weight: 20\n  - pause: 5m' } } });
    traffic = startTraffic({ url: `http://127.0.0.1:${port}/`, concurrency: 6, pauseMs: 2, maxDurationMs: 90_000 });
    const deploy = cli('deploy', 'staging');
    // Disconnect in the middle of the rollout, and come back a little later.
    await waitFor('the first events of the rollout', () => seen.some((e) => e.type === 'instance.started'), 90_000);
    await sse.stop();
    const lastSeen = seen.at(-1)!.id;
    await waitFor('events while the client is away', () => {
      const db = new Database(join(dataDir, 'state.db'), { readonly: true });
      try {
        return (db.prepare('SELECT MAX(id) AS id FROM events').get() as { id: number }).id > lastSeen + 1;
      } finally {
        db.close();
      }
    }, 30_000);
    sse = connect(lastSeen);
    const r = await deploy;
    await traffic.stop();
    traffic = null;
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/automatic rollback/);
    await waitFor('the end of the rollout on the stream', () => seen.some((e) => e.type === 'rollout.failed' || e.type === 'rollout.rolled_back'), 20_000);
    await new Promise((res) => setTimeout(res, 300));
    await sse.stop();

    // No gap and no repeat: the ids seen are exactly those recorded since the first connection.
    const db = new Database(join(dataDir, 'state.db'), { readonly: true });
    const recorded = (db.prepare('SELECT id FROM events WHERE id > ? AND id <= ? ORDER BY id').all(startId.id, seen.at(-1)!.id) as { id: number }[]).map((x) => x.id);
    db.close();
    expect(seen.map((e) => e.id)).toEqual(recorded);
    const types = seen.map((e) => e.type);
    for (const t of ['rollout.started', 'instance.started', 'instance.ready', 'analysis.result', 'rollback.automatic', 'rollout.aborting', 'rollout.failed']) expect(types).toContain(t);

    // The live receiver got the canary's story, in order, as JSON.
    await waitFor('the webhook to get the end', () => live.bodies.some((b) => b.type === 'rollout.failed'), 20_000);
    const got = live.bodies.map((b) => b.type);
    expect(got).toEqual(expect.arrayContaining(['rollout.started', 'analysis.result', 'rollback.automatic', 'rollout.aborting', 'rollout.failed']));
    expect(got).not.toContain('instance.started'); // not asked for
    expect(got.indexOf('rollout.started')).toBeLessThan(got.indexOf('rollout.failed'));
    const failed = live.bodies.find((b) => b.type === 'rollout.failed')!.body;
    expect(failed).toMatchObject({ type: 'rollout.failed', env: 'hello/staging', level: 'error', data: { release: 2, stableRelease: 1, strategy: 'canary' } });
    expect(String(failed.message)).toMatch(/hello\/staging#2: rollout failed; hello\/staging#1 serves/);

    // The webhook whose URL is a secret got its event; the URL is in no log, release or answer.
    await waitFor('the secret-URL webhook to get the end', () => secretHook.bodies.some((b) => b.type === 'rollout.failed'), 20_000);
    expect(secretHook.bodies.map((b) => b.type)).toEqual(['rollout.failed']);
    const releases = await (await apiFetch(`${server.url}/api/environments/staging/releases`)).text();
    expect(releases).toContain('"number":2');
    const secretPort = new URL(secretHook.url).port;
    for (const text of [releases, readFileSync(join(work, 'server.log'), 'utf8')]) expect(text).not.toContain(`127.0.0.1:${secretPort}`);

    // The hanging receiver took the first event and never answered: the rollback went on
    // regardless, well inside that one request's 20 s timeout.
    expect(dead.bodies.length).toBeGreaterThanOrEqual(1);
    const aborting = seen.find((e) => e.type === 'rollout.aborting')!;
    const ended = seen.find((e) => e.type === 'rollout.failed')!;
    expect(ended.ts - aborting.ts).toBeLessThan(15_000);
    expect(dead.hanging.length).toBeGreaterThanOrEqual(1);
    expect(dead.bodies[0]!.at).toBeLessThan(aborting.ts);

    // The refused receiver's failures are recorded, naming only its origin (the path may be a secret).
    await waitFor('the refused delivery to be recorded', async () => {
      const f = await getJson<{ failures: { eventType: string; target: string; attempts: number; error: string }[] }>(`${server.url}/api/environments/staging/notifications`);
      return f.failures.some((x) => x.eventType === 'rollout.started' && x.attempts === 2 && /ECONNREFUSED/.test(x.error) && !x.target.includes('nobody-listens'));
    }, 20_000);

    await waitFor('the CLI follower to see the end', () => watched.includes('"type":"rollout.failed"'), 20_000);
    watcher.kill('SIGTERM');
    const cliTypes = watched.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as SlipwayEvent).type);
    expect(cliTypes).toEqual(types.filter((t) => t.startsWith('rollout.') || t === 'rollback.automatic'));

    const metrics = await (await apiFetch(`${server.url}/metrics`)).text();
    expect(metricSum(metrics, 'slipway_automatic_rollbacks_total', { env: 'hello/staging' })).toBeGreaterThanOrEqual(1);
    expect(metricSum(metrics, 'slipway_rollouts_finished_total', { env: 'hello/staging', phase: 'failed' })).toBe(1);
    expect(metricSum(metrics, 'slipway_analysis_results_total', { env: 'hello/staging', decision: 'fail' })).toBeGreaterThanOrEqual(1);
  }, 240_000);
});
