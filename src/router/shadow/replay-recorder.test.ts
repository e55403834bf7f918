// Recording for replay on real listeners and a real backend (in-process Router): what
// is recorded of a request, with what, and what never is. The keeper's writing is
// replay-store.test.ts's; here the lines a worker would send are collected. A worker
// counts a line kept when it hands it on; the keeper's /stats puts what it then did
// with the line in place of that count (test/replay-keeper-counts.test.ts).

import { createServer, type Server } from 'node:http';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ReplayRecord } from '../../core/shadow/replay-spec.ts';
import { Router } from '../router.ts';
import { MAX_HELD_LINES, RecordBatcher } from './replay-recorder.ts';
import type { ReplayRecordRoutes } from './replay-routes.ts';

describe('recording requests for replay', () => {
  const lines: { env: string; record: ReplayRecord }[] = [];
  let taking = true;
  /** Lines the sink took, every case together. */
  let taken = 0;
  const router = new Router({
    closeGraceMs: 500,
    record: (env, line) => {
      if (taking) {
        lines.push({ env, record: JSON.parse(line) as ReplayRecord });
        taken++;
      }
      return taking;
    },
  });
  const seen: string[] = [];
  let server: Server;
  let version = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push(`${req.method} ${req.url} ${body}`);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"ok":true}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  });

  afterAll(async () => {
    server.close();
    await router.close(500);
  });

  async function route(record: Partial<ReplayRecordRoutes>): Promise<string> {
    lines.length = 0;
    const r = await router.putTable({
      version: ++version,
      environments: {
        'shop/production': {
          listen: '127.0.0.1:0',
          backends: [{ id: `b${version}`, release: '1', url: `http://127.0.0.1:${(server.address() as { port: number }).port}` }],
          weights: { 1: 100 },
          record: { percent: 100, methods: ['GET', 'HEAD'], paths: ['/api/*'], headers: ['accept'], bodies: false, maxBodyBytes: 1024, anonymise: [], sample: 100, maxBytes: 1024 * 1024, ...record },
        },
      },
    }, async () => {});
    if (!r.ok) throw new Error('stale');
    return `http://${r.listeners['shop/production']!.address}`;
  }

  const send = async (url: string, o: { method?: string; body?: string; headers?: Record<string, string> } = {}) => {
    const res = await request(url, { method: (o.method ?? 'GET') as 'GET', body: o.body ?? null, headers: o.headers ?? {} });
    await res.body.text();
    expect(res.statusCode).toBe(200);
  };

  let marks = 0;
  /**
   * The lines recorded before a marker request: lines come from the anonymising
   * thread in the order requests were recorded, so once the marker's has come,
   * every earlier one has too.
   */
  const recordedBefore = async (url: string, method = 'GET'): Promise<typeof lines> => {
    const mark = `/api/marker-${++marks}`;
    await send(`${url}${mark}`, { method }); // no body: recorded whether bodies are or not
    await vi.waitFor(() => expect(lines.some((l) => l.record.url === mark)).toBe(true), { timeout: 10_000 });
    return lines.filter((l) => !l.record.url.startsWith('/api/marker-'));
  };

  it('records the method, path, query and kept headers of matching GETs, and never a POST unless listed', async () => {
    const url = await route({});
    await send(`${url}/api/items/1?page=2`, { headers: { accept: 'application/json', authorization: 'Bearer abc', 'x-other': 'o' } });
    await send(`${url}/api/orders`, { method: 'POST', body: '{"n":1}', headers: { 'content-type': 'application/json' } });
    await send(`${url}/healthz`);
    expect(await recordedBefore(url)).toEqual([{ env: 'shop/production', record: { at: expect.any(Number), method: 'GET', url: '/api/items/1?page=2', headers: { accept: 'application/json' } } }]);
    // The user's requests reached the backend untouched.
    expect(seen.slice(-4, -1)).toEqual(['GET /api/items/1?page=2 ', 'POST /api/orders {"n":1}', 'GET /healthz ']);
  });

  /** The environment's counts of picked requests by outcome, as the router reports them. */
  const outcomes = (r: Router = router) => ({ ...r.statsJson().recorded?.['shop/production'] });

  it('records a listed POST with its body anonymised, or not at all when bodies are off or it is too large, and counts each', async () => {
    const before = outcomes();
    const takenBefore = taken;
    let url = await route({ methods: ['POST'], bodies: true, anonymise: ['card-[0-9]{4}'] });
    await send(`${url}/api/orders`, { method: 'POST', body: JSON.stringify({ item: 3, card: 'card-1234', password: 'pw' }), headers: { 'content-type': 'application/json' } });
    await send(`${url}/api/orders`, { method: 'POST', body: 'x'.repeat(2000), headers: { 'content-type': 'text/plain' } });
    const kept = await recordedBefore(url, 'POST');
    expect(kept).toHaveLength(1);
    expect(JSON.parse(Buffer.from(kept[0]!.record.body!, 'base64').toString())).toEqual({ item: 3, card: '__anonymised__', password: '__anonymised__' });
    url = await route({ methods: ['POST'], bodies: false });
    await send(`${url}/api/orders`, { method: 'POST', body: '{"n":2}', headers: { 'content-type': 'application/json' } });
    expect(await recordedBefore(url, 'POST')).toEqual([]);
    expect(seen.at(-2)).toBe('POST /api/orders {"n":2}');
    // Two markers and the small POST handed on (kept); the large body and the body with bodies off not.
    const after = outcomes();
    expect([taken - takenBefore, after.kept! - (before.kept ?? 0), after.too_large! - (before.too_large ?? 0)]).toEqual([3, 3, 2]);
  });

  it('counts a line its worker had no room to hold as queue_full, not kept', async () => {
    const url = await route({});
    const before = outcomes();
    const takenBefore = taken;
    taking = false;
    try {
      await send(`${url}/api/items/3`);
      await vi.waitFor(() => expect(outcomes().queue_full! - (before.queue_full ?? 0)).toBe(1), { timeout: 10_000 });
    } finally {
      taking = true;
    }
    expect([taken, outcomes().kept]).toEqual([takenBefore, before.kept]);
  });

  it('counts a line alone over half of max_bytes (a sample file\'s share) as too_large, and hands it to no one', async () => {
    // max_bytes 1024: a file takes 512 bytes at most, which the keeper's store would refuse this line for.
    const url = await route({ maxBytes: 1024 });
    const before = outcomes();
    const takenBefore = taken;
    await send(`${url}/api/items/4?pad=${'a'.repeat(600)}`);
    expect(await recordedBefore(url)).toEqual([]);
    const after = outcomes();
    // Only the marker handed on (kept).
    expect([taken - takenBefore, after.kept! - (before.kept ?? 0), after.too_large! - (before.too_large ?? 0)]).toEqual([1, 1, 1]);
  });

  it('records nothing once the table no longer asks for it', async () => {
    await route({});
    const r = await router.putTable({ version: ++version, environments: { 'shop/production': { ...router.currentTable.environments['shop/production']!, record: undefined } } }, async () => {});
    if (!r.ok) throw new Error('stale');
    await send(`http://${r.listeners['shop/production']!.address}/api/items/2`);
    await new Promise((r) => setTimeout(r, 300)); // a line would come from the anonymising thread within milliseconds
    expect(lines).toEqual([]);
  });

  it('keeps serving while a deployer\'s pattern backtracks over a large body: that record is dropped after the budget, the next is kept', async () => {
    const warned: string[] = [];
    const slow = new Router({
      closeGraceMs: 500, anonymise: { budgetMs: 1_000 },
      log: { info: () => {}, warn: (_f, msg) => warned.push(msg) },
      record: (env, line) => lines.push({ env, record: JSON.parse(line) as ReplayRecord }) > 0,
    });
    try {
      lines.length = 0;
      const r = await slow.putTable({
        version: 1,
        environments: {
          'shop/production': {
            listen: '127.0.0.1:0',
            backends: [{ id: 'b1', release: '1', url: `http://127.0.0.1:${(server.address() as { port: number }).port}` }],
            weights: { 1: 100 },
            // `[a-z]+x` over 256 kB of letters with no x: quadratic, about 25 s of backtracking on the event loop.
            record: { percent: 100, methods: ['POST'], paths: ['/api/*'], headers: [], bodies: true, maxBodyBytes: 256 * 1024, anonymise: ['[a-z]+x'], sample: 100, maxBytes: 4 * 1024 * 1024 },
          },
        },
      }, async () => {});
      if (!r.ok) throw new Error('stale');
      const url = `http://${r.listeners['shop/production']!.address}`;
      await send(`${url}/api/upload`, { method: 'POST', body: 'a'.repeat(256 * 1024), headers: { 'content-type': 'text/plain' } });
      // Requests go on being answered meanwhile, on any path.
      const t0 = performance.now();
      for (let i = 0; i < 5; i++) await send(`${url}/healthz`);
      expect(performance.now() - t0).toBeLessThan(5_000);
      await vi.waitFor(() => expect(warned.some((m) => /took more than 10\d\d ms to anonymise and were not kept/.test(m))).toBe(true), { timeout: 15_000 });
      // The next recorded request is kept, anonymised, by a new thread.
      await send(`${url}/api/orders`, { method: 'POST', body: 'order 7 box', headers: { 'content-type': 'text/plain' } });
      await vi.waitFor(() => expect(lines.map((l) => l.record.url)).toEqual(['/api/orders']), { timeout: 10_000 });
      expect(Buffer.from(lines[0]!.record.body!, 'base64').toString()).toBe('order 7 __anonymised__');
      expect(warned.join('\n')).not.toContain('aaaa');
      expect(outcomes(slow)).toEqual({ kept: 1, too_large: 0, not_text: 0, too_slow: 1, queue_full: 0, thread_failed: 0 });
    } finally {
      await slow.close(500);
    }
  }, 30_000);
});

describe('a worker\'s batch of recorded lines', () => {
  it('holds up to MAX_HELD_LINES per environment between sends, says false past them, and takes lines again once sent', () => {
    const sent: [string, number][] = [];
    const batch = new RecordBatcher((env, lines) => sent.push([env, lines.length]));
    const taken = Array.from({ length: MAX_HELD_LINES + 5 }, (_, i) => batch.add('shop/production', `l${i}`));
    expect(taken.filter(Boolean)).toHaveLength(MAX_HELD_LINES);
    expect(taken.slice(-5)).toEqual([false, false, false, false, false]);
    expect(batch.add('shop/staging', 'other')).toBe(true); // another environment has its own room
    batch.flush();
    expect(sent).toEqual([['shop/production', MAX_HELD_LINES], ['shop/staging', 1]]);
    expect(batch.add('shop/production', 'again')).toBe(true);
    batch.flush();
  });
});
