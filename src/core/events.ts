// The events slipway publishes: what the SSE stream /api/events carries, what
// webhooks are sent, and what the counters of /metrics follow. Pure types.

/**
 * Every event type. Closed, so a webhook's `events:` list is checked against it;
 * add a type here before publishing it.
 */
export const EVENT_TYPES = [
  'rollout.started',
  'rollout.step',
  'rollout.paused',
  'rollout.resumed',
  'rollout.aborting',
  'rollout.succeeded',
  'rollout.rolled_back',
  'rollout.failed',
  'analysis.result',
  'rollback.automatic',
  'watch.started',
  'watch.passed',
  'watch.inconclusive',
  'approval.requested',
  'approval.granted',
  'approval.rejected',
  'instance.started',
  'instance.ready',
  'instance.draining',
  'instance.exited',
  'instance.failed',
  // The router ran another table than the one the server sent it (rewritten behind
  // the server's back, or restored from an old file); the server sent its own again.
  'router.drift',
  // TLS (slipway.yaml tls:): a certificate obtained or renewed by ACME, or an attempt that failed (the old one keeps serving).
  'tls.certificate_issued',
  'tls.renewal_failed',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

export type EventLevel = 'info' | 'warn' | 'error';

/** What a publisher gives; the id and time are the event log's. */
export interface EventInput {
  type: EventType;
  env: string | null;
  rolloutId?: number | null;
  level?: EventLevel;
  /** One line a person reads (chat messages use it as is). */
  message: string;
  data?: Record<string, unknown>;
}

export interface SlipwayEvent {
  /** Grows by one per event and is never reused: the SSE `id:` and `Last-Event-ID`. */
  id: number;
  ts: number;
  type: EventType;
  env: string | null;
  rolloutId: number | null;
  level: EventLevel;
  message: string;
  data: Record<string, unknown>;
}

export function isEventType(v: string): v is EventType {
  return (EVENT_TYPES as readonly string[]).includes(v);
}
