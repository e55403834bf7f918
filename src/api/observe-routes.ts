// Observability endpoints: /metrics (Prometheus text format), the server-sent
// event stream /api/events (resumable with Last-Event-ID), and the webhook
// deliveries that failed.

import type { FastifyInstance } from 'fastify';
import { isEventType, type SlipwayEvent } from '../core/events.ts';
import type { Engine } from '../engine/engine.ts';
import type { ReadModels } from '../engine/read-models.ts';
import type { NotificationFailuresJson } from './views.ts';
import { envParam, sseQuery } from './schemas.ts';
import { parse } from './request-input.ts';
import { SlipwayError } from '../core/errors.ts';

/** A client this far behind is cut off; it reconnects with Last-Event-ID and misses nothing. */
const MAX_UNSENT_BYTES = 1024 * 1024;
const HEARTBEAT_MS = 15_000;
const PAGE = 500;

export interface ObserveRouteOptions {
  engine: Engine;
  /** This server's metrics, rendered for /metrics. */
  metrics: { render(): Promise<{ contentType: string; text: string }> };
  reads: ReadModels;
  redact: (text: string) => string;
}

/** `types`: exact event types, or prefixes written `rollout.*`. */
function typeMatcher(types: string | undefined): (type: string) => boolean {
  if (!types) return () => true;
  const wanted = types.split(',').map((t) => t.trim()).filter(Boolean);
  for (const t of wanted) {
    if (!isEventType(t) && !/^[a-z]+\.\*$/.test(t)) {
      throw new SlipwayError('E_BAD_REQUEST', `query: types: "${t.slice(0, 40)}" is not an event type (see docs/observability.md), nor a prefix such as rollout.*`, { field: 'types' });
    }
  }
  return (type) => wanted.some((w) => (w.endsWith('.*') ? type.startsWith(w.slice(0, -1)) : type === w));
}

export function sseFrame(e: SlipwayEvent): string {
  return `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;
}

export function registerObserveRoutes(app: FastifyInstance, o: ObserveRouteOptions): void {
  const { engine, reads } = o;

  app.get('/metrics', { config: { permission: 'read', summary: 'Prometheus text metrics (scrape with a viewer token as a bearer credential)' } }, async (_req, reply) => {
    const m = await o.metrics.render();
    return reply.header('content-type', m.contentType).send(m.text);
  });

  app.get('/api/environments/:env/notifications', { config: { permission: 'read', input: { params: envParam }, summary: 'webhook deliveries that failed after every retry' } }, async (req): Promise<NotificationFailuresJson> => {
    const { env } = parse(envParam, req.params, 'path');
    return { env, failures: reads.environments.notificationFailures(env) };
  });

  app.get('/api/events', { config: { permission: 'read', input: { query: sseQuery }, summary: 'server-sent events, resumable with Last-Event-ID' } }, async (req, reply) => {
    const parsed = parse(sseQuery, req.query, 'query');
    // `env=production`: the one service's production, as in a path.
    const q = parsed.env ? { ...parsed, env: engine.resolveEnvironment(parsed.env) } : parsed;
    const header = req.headers['last-event-id'];
    const lastHeader = typeof header === 'string' && /^\d{1,15}$/.test(header.trim()) ? Number(header.trim()) : undefined;
    if (header !== undefined && lastHeader === undefined) {
      throw new SlipwayError('E_BAD_REQUEST', 'header: Last-Event-ID must be the id of an event (a whole number)', { field: 'last-event-id' });
    }
    const wants = typeMatcher(q.types);
    const matches = (e: SlipwayEvent) => (!q.env || e.env === q.env) && wants(e.type);
    // Without Last-Event-ID or ?after, the stream starts with the next event.
    let last = lastHeader ?? q.after ?? reads.eventLog.lastEventId();
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    // Written raw, past the onSend hook: masked here.
    const write = (text: string) => raw.write(o.redact(text));
    write('retry: 1000\n\n');
    let live = false;
    let closed = false;
    const send = (e: SlipwayEvent) => {
      if (e.id <= last) return;
      last = e.id;
      if (matches(e)) write(sseFrame(e));
      if (raw.writableLength > MAX_UNSENT_BYTES) raw.destroy();
    };
    // Subscribed first, then caught up from the log: the catch-up and the switch to
    // live events happen in one synchronous turn, so no event falls between them.
    const unsubscribe = engine.events.subscribe((e) => {
      if (live) send(e);
    });
    const catchUp = async () => {
      for (;;) {
        if (closed) return;
        const page = engine.events.since(last, q.env ? { env: q.env } : {}, PAGE);
        for (const e of page) send(e);
        if (page.length < PAGE) break;
        if (raw.writableLength > MAX_UNSENT_BYTES / 2) await new Promise((r) => raw.once('drain', r));
      }
      live = true;
    };
    const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), HEARTBEAT_MS);
    raw.on('close', () => {
      closed = true;
      clearInterval(heartbeat);
      unsubscribe();
    });
    await catchUp();
    return reply;
  });
}
