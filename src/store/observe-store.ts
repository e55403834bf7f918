// Queries for observability: the event log (ids never reused, so SSE clients can
// resume), failed webhook deliveries, and the counts /metrics reports.

import type { EventInput, EventLevel, EventType, SlipwayEvent } from '../core/events.ts';
import type { Db } from './open-database.ts';

type Row = Record<string, unknown>;

export interface EventFilter {
  env?: string | undefined;
  types?: readonly string[] | undefined;
}

export interface NotificationFailure {
  id: number;
  ts: number;
  env: string;
  eventId: number;
  eventType: string;
  /** Where it was sent, as scheme://host only: a webhook URL's path is often its secret. */
  target: string;
  attempts: number;
  error: string;
}

const toEvent = (r: Row): SlipwayEvent => ({
  id: Number(r.id), ts: Number(r.ts), type: r.type as EventType, env: r.env === null ? null : String(r.env),
  rolloutId: r.rollout_id === null ? null : Number(r.rollout_id), level: r.level as EventLevel, message: String(r.message),
  data: r.data_json === null ? {} : (safeJson(r.data_json) as Record<string, unknown>),
});

function safeJson(text: unknown): unknown {
  try {
    return JSON.parse(String(text));
  } catch {
    return {};
  }
}

export class ObserveStore {
  constructor(private readonly db: Db) {}

  appendEvent(e: EventInput, ts: number): SlipwayEvent {
    const data = e.data ?? {};
    const level = e.level ?? 'info';
    const info = this.db.prepare('INSERT INTO events (ts, type, env, rollout_id, level, message, data_json) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(ts, e.type, e.env, e.rolloutId ?? null, level, e.message, JSON.stringify(data));
    return { id: Number(info.lastInsertRowid), ts, type: e.type, env: e.env, rolloutId: e.rolloutId ?? null, level, message: e.message, data };
  }

  /** Events after an id, oldest first. */
  eventsAfter(afterId: number, filter: EventFilter = {}, limit = 1000): SlipwayEvent[] {
    const where = ['id > ?'];
    const args: unknown[] = [afterId];
    if (filter.env) {
      where.push('env = ?');
      args.push(filter.env);
    }
    if (filter.types && filter.types.length > 0) {
      where.push(`type IN (${filter.types.map(() => '?').join(', ')})`);
      args.push(...filter.types);
    }
    args.push(limit);
    return (this.db.prepare(`SELECT * FROM events WHERE ${where.join(' AND ')} ORDER BY id LIMIT ?`).all(...args) as Row[]).map(toEvent);
  }

  lastEventId(): number {
    const r = this.db.prepare('SELECT MAX(id) AS id FROM events').get() as Row;
    return Number(r.id ?? 0);
  }

  /** Keeps the newest `keep` events. */
  pruneEvents(keep: number): void {
    this.db.prepare('DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?').run(keep);
  }

  addNotificationFailure(f: Omit<NotificationFailure, 'id'>): void {
    this.db.prepare('INSERT INTO notification_failures (ts, env, event_id, event_type, target, attempts, error) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(f.ts, f.env, f.eventId, f.eventType, f.target, f.attempts, f.error);
    this.db.prepare('DELETE FROM notification_failures WHERE id <= (SELECT MAX(id) FROM notification_failures) - 1000').run();
  }

  notificationFailures(env: string, limit = 100): NotificationFailure[] {
    return (this.db.prepare('SELECT * FROM notification_failures WHERE env = ? ORDER BY id DESC LIMIT ?').all(env, limit) as Row[]).map((r) => ({
      id: Number(r.id), ts: Number(r.ts), env: String(r.env), eventId: Number(r.event_id), eventType: String(r.event_type),
      target: String(r.target), attempts: Number(r.attempts), error: String(r.error),
    }));
  }

  /** Number of rollouts per environment and phase. */
  rolloutPhaseCounts(): { env: string; phase: string; count: number }[] {
    return (this.db.prepare('SELECT env, phase, COUNT(*) AS n FROM rollouts GROUP BY env, phase').all() as Row[])
      .map((r) => ({ env: String(r.env), phase: String(r.phase), count: Number(r.n) }));
  }

  /** Instances that may be running, per environment, release number and state. */
  instanceCounts(): { env: string; release: number; state: string; count: number }[] {
    return (this.db.prepare(
      `SELECT i.env AS env, r.number AS release, i.state AS state, COUNT(*) AS n FROM instances i JOIN releases r ON r.id = i.release_id
       WHERE i.state IN ('starting', 'ready', 'draining', 'stopping') GROUP BY i.env, r.number, i.state`,
    ).all() as Row[]).map((r) => ({ env: String(r.env), release: Number(r.release), state: String(r.state), count: Number(r.n) }));
  }
}
