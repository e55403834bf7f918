// Maintenance and traffic pauses in the router, in-process with a real backend:
// what a client gets (503, Retry-After, HTML or JSON), held requests sent on in
// arrival order, the queue bound, and that time held is not counted as latency.
// The end-to-end files (test/maintenance.test.ts, test/pause-traffic.test.ts) run
// the same through the server and the CLI.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { Router } from './router.ts';
import type { EnvRoutes, RouteTable } from './route-table.ts';
import { startTestUpstream, type TestUpstream } from './test-upstream.ts';
import { prefersHtml, TrafficHold } from './traffic-hold.ts';

const noPersist = async (): Promise<void> => {};

describe('traffic gate', () => {
  const router = new Router({ closeGraceMs: 1_000 });
  let app: TestUpstream;
  let version = 0;
  let base = '';

  async function put(extra: Partial<EnvRoutes>): Promise<void> {
    const table: RouteTable = {
      version: ++version,
      environments: { 'shop/production': { listen: '127.0.0.1:0', backends: [{ id: 'a', release: '1', url: app.url }], weights: { '1': 100 }, ...extra } },
    };
    const r = await router.putTable(table, noPersist);
    if (!r.ok) throw new Error('stale');
    base = `http://${r.listeners['shop/production']!.address}`;
  }

  beforeAll(async () => {
    app = await startTestUpstream('a');
    await put({});
  });

  afterAll(async () => {
    await router.close(500);
    await app.kill();
  });

  it('chooses HTML for browsers and JSON for everything else', () => {
    expect(prefersHtml('text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8')).toBe(true);
    expect(prefersHtml('application/json, text/html')).toBe(false);
    expect(prefersHtml('*/*')).toBe(false);
    expect(prefersHtml(undefined)).toBe(false);
  });

  it('answers 503 with Retry-After and the message in maintenance, never reaching the backend, then serves again', async () => {
    await put({ maintenance: { message: 'Upgrading the <database>; back at 10:00.', retryAfterSeconds: 90 } });
    const hitsBefore = app.hits;
    const json = await request(`${base}/orders`, { headers: { accept: 'application/json' } });
    expect(json.statusCode).toBe(503);
    expect(json.headers['retry-after']).toBe('90');
    expect(await json.body.json()).toEqual({ error: 'maintenance', message: 'Upgrading the <database>; back at 10:00.', retryAfterSeconds: 90 });
    const page = await request(`${base}/`, { headers: { accept: 'text/html,*/*;q=0.8' } });
    expect(page.statusCode).toBe(503);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    const html = await page.body.text();
    expect(html).toContain('Upgrading the &#60;database&#62;; back at 10:00.');
    expect(html).not.toContain('<database>');
    const post = await request(`${base}/echo`, { method: 'POST', body: 'x'.repeat(1000) });
    expect(post.statusCode).toBe(503);
    await post.body.text();
    expect(app.hits).toBe(hitsBefore);
    expect(router.statsJson().gated['shop/production']!.maintenance).toBe(3);

    await put({});
    const after = await request(`${base}/`);
    expect([after.statusCode, await after.body.text()]).toEqual([200, 'a']);
  });

  it('sends held requests on in arrival order, skipping those whose clients left', () => {
    const hold = new TrafficHold();
    hold.update({ untilMs: Date.now() + 60_000, queueLimit: 10 });
    const sent: number[] = [];
    const leave: (() => void)[] = [];
    for (let i = 0; i < 5; i++) expect(hold.admit(() => sent.push(i), (forget) => leave.push(forget))).toBe(true);
    leave[2]!();
    expect([hold.isHolding, hold.waitingNow, sent]).toEqual([true, 4, []]);
    hold.update(null);
    expect([hold.isHolding, hold.waitingNow, sent]).toEqual([false, 0, [0, 1, 3, 4]]);
  });

  it('holds requests during a pause and answers them all once it is lifted, none before', async () => {
    await put({ hold: { untilMs: Date.now() + 30_000, queueLimit: 100 } });
    let answered = 0;
    const answers = Array.from({ length: 20 }, async (_, i) => {
      const res = await request(`${base}/echo?i=${i}`);
      await res.body.text();
      answered++;
      return res.statusCode;
    });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(answered).toBe(0);
    const latencyBefore = router.statsJson().environments['shop/production']!['1']!.latency;
    await put({});
    expect(await Promise.all(answers)).toEqual(Array(20).fill(200));
    // Held ≥ 1.4 s each, yet counted from their release: the time held is not the release's latency.
    const latency = router.statsJson().environments['shop/production']!['1']!.latency;
    expect(latency.count - latencyBefore.count).toBe(20);
    expect((latency.sumMs - latencyBefore.sumMs) / 20).toBeLessThan(1_400);
  });

  it('answers held requests with the maintenance 503 when maintenance was turned on while they waited', async () => {
    await put({ hold: { untilMs: Date.now() + 30_000, queueLimit: 10 } });
    const held = Array.from({ length: 3 }, () => request(`${base}/`).then(async (r) => [r.statusCode, r.headers['retry-after'], await r.body.text()]));
    await new Promise((r) => setTimeout(r, 300));
    const hitsBefore = app.hits;
    await put({ maintenance: { message: 'Closed for an hour.', retryAfterSeconds: 3600 } });
    const answers = await Promise.all(held);
    expect(answers.map(([status, retryAfter]) => [status, retryAfter])).toEqual(Array(3).fill([503, '3600']));
    expect(app.hits).toBe(hitsBefore);
    await put({});
  });

  it('releases held requests by itself at the deadline, and refuses past the queue limit with a clear 503', async () => {
    await put({ hold: { untilMs: Date.now() + 800, queueLimit: 3 } });
    const started = Date.now();
    const held = Array.from({ length: 3 }, () => request(`${base}/`).then(async (r) => [r.statusCode, await r.body.text()]));
    await new Promise((r) => setTimeout(r, 100));
    const over = await request(`${base}/`);
    expect(over.statusCode).toBe(503);
    expect(Number(over.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(await over.body.json()).toMatchObject({ error: 'hold_queue_full', queueLimit: 3 });
    expect(await Promise.all(held)).toEqual(Array(3).fill([200, 'a']));
    expect(Date.now() - started).toBeGreaterThanOrEqual(700);
    // The table still says "hold until" a time now past: it holds nothing.
    const res = await request(`${base}/`);
    expect(res.statusCode).toBe(200);
    await res.body.text();
    expect(router.statsJson().gated['shop/production']).toMatchObject({ held: 26, holdQueueFull: 1 });
  });
});
