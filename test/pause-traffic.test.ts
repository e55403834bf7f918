// Issue 17: `slipway pause-traffic <env> --max` and `slipway resume-traffic <env>`,
// through a real server, the real router and real instances. 200 requests sent
// during a pause are all answered 200 after the resume and none before; a pause
// ends by itself at --max (the held requests answered, not failed); past the
// queue limit a request gets a 503 that says so.

import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import type { TrafficGateJson } from '../src/api/views.ts';
import { apiFetch, freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';

interface Answer {
  status: number;
  error: string | null;
  /** Date.now() when the answer arrived. */
  at: number;
}

describe('pause-traffic', () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let port: number;
  const agent = new Agent({ connections: null, keepAliveTimeout: 30_000 });
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir });
  const status = () => getJson<EnvironmentStatus>(`${server.url}/api/environments/${encodeURIComponent('shop/production')}`);

  /** Sends `n` requests at once; each resolves with its status and when it was answered. */
  function send(n: number): Promise<Answer>[] {
    return Array.from({ length: n }, async () => {
      const res = await request(`http://127.0.0.1:${port}/`, { dispatcher: agent });
      const text = await res.body.text();
      const error = res.statusCode === 200 ? null : ((JSON.parse(text) as { error?: string }).error ?? null);
      return { status: res.statusCode, error, at: Date.now() };
    });
  }

  beforeAll(async () => {
    work = scratchDir();
    app = join(work, 'shop');
    dataDir = join(work, '.slipway');
    port = await freePort();
    writeService(app, { service: 'shop', envs: { production: { instances: 2, port } } });
    server = await startServerProcess(dataDir);
    const r = await cli('deploy', 'production');
    expect(r.code, r.stdout + r.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await agent.close();
    await shutdownEverything(server?.url ?? null, dataDir);
  }, 120_000);

  it('refuses a --max without a unit or out of range, changing nothing', async () => {
    const [bare, tooLong] = await Promise.all([
      cli('--json', 'pause-traffic', 'production', '--max', '10'),
      cli('--json', 'pause-traffic', 'production', '--max', '2h'),
    ]);
    expect(JSON.parse(bare.stdout).error).toMatchObject({ code: 'E_BAD_REQUEST' });
    expect(JSON.parse(bare.stdout).error.message).toContain('--max');
    expect(JSON.parse(tooLong.stdout).error).toMatchObject({ code: 'E_BAD_REQUEST' });
    expect((await status()).traffic?.pause).toBeNull();
  });

  it('holds 200 requests during a pause and answers every one 200 after the resume, none before', async () => {
    const paused = await cli('--json', 'pause-traffic', 'production', '--max', '60s');
    expect(paused.code, paused.stdout + paused.stderr).toBe(0);
    expect(JSON.parse(paused.stdout) as TrafficGateJson).toMatchObject({ env: 'shop/production', changed: true, pause: { maxMs: 60_000, queueLimit: 10_000 } });
    expect((await status()).traffic?.pause).toMatchObject({ maxMs: 60_000 });

    const answers = send(200);
    let answeredEarly = 0;
    for (const a of answers) void a.then(() => answeredEarly++, () => answeredEarly++);
    // A second for all of them to reach the router and wait there.
    await new Promise((r) => setTimeout(r, 1_000));
    const resumedAt = Date.now();
    expect(answeredEarly).toBe(0);
    const resumed = await cli('--json', 'resume-traffic', 'production');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ changed: true, pause: null });

    const all = await Promise.all(answers);
    expect(all.filter((a) => a.status === 200)).toHaveLength(200);
    expect(all.filter((a) => a.at < resumedAt)).toEqual([]);
    expect((await status()).traffic?.pause).toBeNull();
  }, 120_000);

  it('ends a pause by itself at --max: the held requests are answered, not failed', async () => {
    // Through the API (the CLI's path is the test above): a CLI start on a loaded machine could outlast the pause.
    const paused = await apiFetch(`${server.url}/api/environments/${encodeURIComponent('shop/production')}/traffic/pause`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ maxMs: 4_000 }),
    });
    expect(paused.status).toBe(200);
    const untilMs = ((await paused.json()) as TrafficGateJson).pause!.untilMs;
    const sentAt = Date.now();
    // Sent while the pause holds (else this test would prove nothing).
    expect(sentAt).toBeLessThan(untilMs);
    const all = await Promise.all(send(20));
    expect(all.map((a) => a.status)).toEqual(Array(20).fill(200));
    // Released by the router's own deadline (a timer may fire a millisecond early).
    expect(Math.min(...all.map((a) => a.at))).toBeGreaterThanOrEqual(untilMs - 20);
    // The server clears its record at the deadline too.
    await waitFor('the pause to end in the status', async () => (await status()).traffic?.pause === null);
  }, 60_000);

  it('answers a clear 503 past --queue-limit and still releases those it holds', async () => {
    const paused = await cli('--json', 'pause-traffic', 'production', '--max', '60s', '--queue-limit', '5');
    expect(paused.code, paused.stderr).toBe(0);
    const first = send(5);
    await new Promise((r) => setTimeout(r, 500));
    const over = await Promise.all(send(3));
    expect(over.map((a) => [a.status, a.error])).toEqual(Array(3).fill([503, 'hold_queue_full']));
    const resumed = await cli('resume-traffic', 'production');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect((await Promise.all(first)).map((a) => a.status)).toEqual(Array(5).fill(200));
  }, 60_000);
});
