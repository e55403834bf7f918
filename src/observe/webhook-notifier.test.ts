import { createServer, type Server } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import type { SlipwayEvent } from '../core/events.ts';
import type { WebhookSpec } from '../core/service-config.ts';
import type { NotificationFailure } from '../store/observe-store.ts';
import { WebhookNotifier, webhookBody, wantsEvent } from './webhook-notifier.ts';

const servers: Server[] = [];
afterAll(() => servers.forEach((s) => s.close()));

/** A real receiver on loopback that fails the first `failFirst` requests with 503. */
async function receiver(failFirst: number) {
  const got: { type: string; body: string }[] = [];
  let n = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      n++;
      if (n <= failFirst) {
        res.statusCode = 503;
        res.end();
        return;
      }
      got.push({ type: String(req.headers['x-slipway-event']), body });
      res.end();
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  return { url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/hook/s3cret`, got, requests: () => n };
}

const event = (id: number, type: SlipwayEvent['type'], message = `event ${id}`): SlipwayEvent => ({ id, ts: 1_700_000_000_000 + id, type, env: 'prod', rolloutId: 4, level: type === 'rollout.failed' ? 'error' : 'info', message, data: { release: 7 } });
const hook = (url: string, o: Partial<WebhookSpec> = {}): WebhookSpec => ({ url, events: [], format: 'json', timeoutMs: 2000, attempts: 3, ...o });

async function until(check: () => boolean, ms = 5000) {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}

describe('WebhookNotifier', () => {
  it('retries a failing receiver with backoff and delivers each event once, in order', async () => {
    const r = await receiver(2);
    const failures: Omit<NotificationFailure, 'id'>[] = [];
    const waits: number[] = [];
    const n = new WebhookNotifier({
      webhooksFor: () => [hook(r.url, { events: ['rollout.*'] })], recordFailure: (f) => failures.push(f), warn: () => undefined,
      backoffMs: (attempt) => (waits.push(attempt), 20 * 2 ** attempt),
    });
    n.onEvent(event(1, 'rollout.started'));
    n.onEvent(event(2, 'instance.ready')); // not asked for
    n.onEvent(event(3, 'rollout.failed'));
    await until(() => r.got.length === 2);
    expect(r.got.map((g) => g.type)).toEqual(['rollout.started', 'rollout.failed']);
    expect(waits).toEqual([1, 2]);
    expect(JSON.parse(r.got[0]!.body)).toMatchObject({ id: 1, type: 'rollout.started', env: 'prod', rolloutId: 4, data: { release: 7 } });
    expect(failures).toEqual([]);
    // The receiver has the request before the notifier has its answer.
    await until(() => n.pending === 0);
    expect(n.pending).toBe(0);
  });

  it('records a delivery that failed every attempt, naming only the receiver\'s origin', async () => {
    const r = await receiver(100);
    const failures: Omit<NotificationFailure, 'id'>[] = [];
    const n = new WebhookNotifier({ webhooksFor: () => [hook(r.url, { attempts: 2 })], recordFailure: (f) => failures.push(f), warn: () => undefined, backoffMs: () => 5 });
    n.onEvent(event(9, 'rollout.rolled_back'));
    await until(() => failures.length === 1);
    expect(r.requests()).toBe(2);
    expect(failures[0]).toMatchObject({ env: 'prod', eventId: 9, eventType: 'rollout.rolled_back', attempts: 2, error: 'HTTP 503' });
    expect(failures[0]!.target).toBe(new URL(r.url).origin);
  });

  it('reads a URL kept in a secret at delivery, and names only where it is kept when that fails', async () => {
    const r = await receiver(0);
    const failures: Omit<NotificationFailure, 'id'>[] = [];
    const warned: string[] = [];
    const from = { provider: 'env', name: 'SLIPWAY_SECRET_HOOK' } as const;
    let stored = r.url;
    const n = new WebhookNotifier({
      webhooksFor: () => [{ urlFrom: from, events: [], format: 'json', timeoutMs: 2000, attempts: 1 }],
      recordFailure: (f) => failures.push(f), warn: (fields) => warned.push(JSON.stringify(fields)),
      resolveUrl: async (hook, env) => {
        expect([hook.urlFrom, env]).toEqual([from, 'prod']);
        if (stored === 'unset') throw new Error('SLIPWAY_SECRET_HOOK is not set in the server\'s environment');
        return stored;
      },
    });
    n.onEvent(event(1, 'rollout.started'));
    await until(() => r.got.length === 1);
    expect(r.got.map((g) => g.type)).toEqual(['rollout.started']);
    // Each change of the stored URL waits for the delivery that reads it: the URL is
    // read when an event is delivered, not when it is queued.
    stored = 'not a url, and secret-ish';
    n.onEvent(event(2, 'rollout.failed'));
    await until(() => failures.length === 1);
    stored = 'unset';
    n.onEvent(event(3, 'rollout.failed'));
    await until(() => failures.length === 2);
    expect(failures.map((f) => [f.target, f.error])).toEqual([
      ['the URL in env SLIPWAY_SECRET_HOOK', 'cannot read the webhook\'s URL: env SLIPWAY_SECRET_HOOK does not hold an http:// or https:// URL'],
      ['the URL in env SLIPWAY_SECRET_HOOK', 'cannot read the webhook\'s URL: SLIPWAY_SECRET_HOOK is not set in the server\'s environment'],
    ]);
    expect(JSON.stringify([failures, warned])).not.toMatch(/secret-ish|hook\/s3cret/);
  });

  it('queues without waiting: onEvent returns at once even when the receiver hangs', async () => {
    const server = createServer(() => undefined); // never answers
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const a = server.address();
    const n = new WebhookNotifier({ webhooksFor: () => [hook(`http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/`, { timeoutMs: 60_000 })], recordFailure: () => undefined, warn: () => undefined });
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) n.onEvent(event(i, 'rollout.step'));
    expect(performance.now() - t0).toBeLessThan(500);
    expect(n.pending).toBeLessThanOrEqual(501); // bounded: the oldest waiting ones were dropped
    n.stop();
  });

  it('speaks Slack: a text line, and filters by exact type or prefix', () => {
    expect(JSON.parse(webhookBody(event(3, 'rollout.failed', 'prod#7: rollout failed; prod#6 serves'), 'slack'))).toEqual({ text: ':x: *prod* prod#7: rollout failed; prod#6 serves', username: 'slipway' });
    expect(wantsEvent(hook('http://x', { events: ['analysis.result', 'rollout.*'] }), 'rollout.step')).toBe(true);
    expect(wantsEvent(hook('http://x', { events: ['analysis.result'] }), 'rollout.step')).toBe(false);
    expect(wantsEvent(hook('http://x'), 'instance.ready')).toBe(true);
  });
});
