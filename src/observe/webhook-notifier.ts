// Webhooks: each event an environment's webhooks asked for is POSTed to each, as
// JSON or in Slack's {"text": ...} form. Delivery is off the rollout's path
// entirely: publishing only appends to a queue per webhook, each queue sends one
// event at a time (so a receiver sees events in order), retries with exponential
// backoff, and records a delivery that failed every attempt. A dead or hanging
// receiver holds up only its own queue, which is bounded: past it the oldest
// waiting events are dropped and counted.

import type { SlipwayEvent } from '../core/events.ts';
import type { WebhookSpec } from '../core/service-config.ts';
import type { NotificationFailure } from '../store/observe-store.ts';

const MAX_QUEUED_PER_WEBHOOK = 500;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;

export interface NotifierDeps {
  /** The webhooks of the event's environment, as its current release configures them. */
  webhooksFor(e: SlipwayEvent): WebhookSpec[];
  recordFailure(f: Omit<NotificationFailure, 'id'>): void;
  warn(fields: Record<string, unknown>, message: string): void;
  /** The URL of a webhook that keeps it in a secret (urlFrom), read for each delivery. */
  resolveUrl?(hook: WebhookSpec, env: string): Promise<string>;
  now?: () => number;
  /** Backoff before attempt n+1 (tests shorten it). */
  backoffMs?: (attempt: number) => number;
  /** Each delivery's outcome, for the server's metrics. */
  onOutcome?(outcome: 'delivered' | 'failed' | 'dropped'): void;
}

interface Delivery {
  event: SlipwayEvent;
  hook: WebhookSpec;
}

/** Where a webhook points, without its path and query: those are often its secret. */
export function webhookTarget(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'an invalid URL';
  }
}

/** A webhook named for logs and failure records: its origin, or where its URL is kept. */
export function describeHook(hook: WebhookSpec): string {
  if (hook.url !== undefined) return webhookTarget(hook.url);
  const from = hook.urlFrom!;
  return `the URL in ${from.provider === 'vault' ? `vault ${from.mount}/${from.path}#${from.key}` : from.provider === 'file' ? `file ${from.path}` : `env ${from.name}`}`;
}

function hookKey(hook: WebhookSpec): string {
  return hook.url ?? JSON.stringify(hook.urlFrom);
}

export function wantsEvent(hook: WebhookSpec, type: string): boolean {
  if (hook.events.length === 0) return true;
  return hook.events.some((w) => (w.endsWith('.*') ? type.startsWith(w.slice(0, -1)) : w === type));
}

const ICON: Record<string, string> = { info: ':information_source:', warn: ':warning:', error: ':x:' };

export function webhookBody(e: SlipwayEvent, format: WebhookSpec['format']): string {
  if (format === 'slack') {
    const icon = e.type === 'rollout.succeeded' ? ':white_check_mark:' : ICON[e.level] ?? '';
    return JSON.stringify({ text: `${icon} *${e.env ?? 'slipway'}* ${e.message}`.trim(), username: 'slipway' });
  }
  return JSON.stringify({ id: e.id, type: e.type, time: new Date(e.ts).toISOString(), env: e.env, rolloutId: e.rolloutId, level: e.level, message: e.message, data: e.data });
}

class WebhookQueue {
  private readonly items: Delivery[] = [];
  private running = false;
  private timer: NodeJS.Timeout | null = null;
  private abort: AbortController | null = null;
  dropped = 0;

  constructor(
    private readonly deps: NotifierDeps,
    private readonly onIdle: () => void,
  ) {}

  get size(): number {
    return this.items.length + (this.running ? 1 : 0);
  }

  push(d: Delivery): void {
    if (this.items.length >= MAX_QUEUED_PER_WEBHOOK) {
      this.items.shift();
      this.dropped++;
      this.deps.onOutcome?.('dropped');
    }
    this.items.push(d);
    if (!this.running) void this.run();
  }

  private async run(): Promise<void> {
    this.running = true;
    while (this.items.length > 0) {
      const d = this.items.shift()!;
      await this.deliver(d);
    }
    this.running = false;
    this.onIdle();
  }

  private async deliver(d: Delivery): Promise<void> {
    let error = '';
    for (let attempt = 1; attempt <= d.hook.attempts; attempt++) {
      error = await this.attempt(d);
      if (!error) {
        this.deps.onOutcome?.('delivered');
        return;
      }
      if (attempt < d.hook.attempts) await this.sleep((this.deps.backoffMs ?? defaultBackoff)(attempt));
      if (this.stopped) break;
    }
    this.deps.onOutcome?.('failed');
    const target = describeHook(d.hook);
    this.deps.warn({ target, event: d.event.type, eventId: d.event.id, attempts: d.hook.attempts, error }, 'webhook delivery failed');
    try {
      this.deps.recordFailure({
        ts: (this.deps.now ?? Date.now)(), env: d.event.env ?? '', eventId: d.event.id, eventType: d.event.type, target, attempts: d.hook.attempts, error,
      });
    } catch (e) {
      // A full disk refuses the record. The queue runs unawaited: a throw from here
      // would be a rejection no one handles, which ends the server.
      this.deps.warn({ target, event: d.event.type, eventId: d.event.id, err: (e as Error).message }, 'the failed webhook delivery could not be recorded');
    }
  }

  /** '' when delivered (a 2xx answer), else why not. */
  private async attempt(d: Delivery): Promise<string> {
    let url: string;
    try {
      url = d.hook.url ?? await this.urlFromSecret(d);
    } catch (e) {
      // The reader's message names where the secret is, never its value.
      return `cannot read the webhook's URL: ${(e as Error).message}`;
    }
    this.abort = new AbortController();
    const timer = setTimeout(() => this.abort?.abort(), d.hook.timeoutMs);
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'slipway', 'x-slipway-event': d.event.type, 'x-slipway-event-id': String(d.event.id) },
        body: webhookBody(d.event, d.hook.format),
        signal: this.abort.signal,
        redirect: 'manual',
      });
      await res.arrayBuffer().catch(() => undefined);
      return res.status >= 200 && res.status < 300 ? '' : `HTTP ${res.status}`;
    } catch (e) {
      if (this.abort.signal.aborted) return this.stopped ? 'slipway stopped' : `no answer within ${d.hook.timeoutMs}ms`;
      const cause = (e as Error).cause as { code?: string; message?: string } | undefined;
      return cause?.code ?? cause?.message ?? (e as Error).message;
    } finally {
      clearTimeout(timer);
    }
  }

  stopped = false;

  private async urlFromSecret(d: Delivery): Promise<string> {
    if (!this.deps.resolveUrl) throw new Error('this server reads no webhook URL from a secret');
    const url = await this.deps.resolveUrl(d.hook, d.event.env ?? '');
    let ok = false;
    try {
      ok = ['http:', 'https:'].includes(new URL(url).protocol);
    } catch {
      ok = false;
    }
    if (!ok) throw new Error(`${describeHook(d.hook).replace(/^the URL in /, '')} does not hold an http:// or https:// URL`);
    return url;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      this.timer = setTimeout(r, ms);
      this.timer.unref();
    });
  }

  stop(): void {
    this.stopped = true;
    this.items.length = 0;
    this.abort?.abort();
    if (this.timer) clearTimeout(this.timer);
  }
}

function defaultBackoff(attempt: number): number {
  const ms = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1));
  return ms / 2 + Math.random() * (ms / 2); // jitter: many slipways do not retry in step
}

export class WebhookNotifier {
  private readonly queues = new Map<string, WebhookQueue>();

  constructor(private readonly deps: NotifierDeps) {}

  /** Subscribe this to the event bus. Returns at once: delivery happens later. */
  onEvent(e: SlipwayEvent): void {
    let hooks: WebhookSpec[];
    try {
      hooks = this.deps.webhooksFor(e);
    } catch {
      return;
    }
    for (const hook of hooks) {
      if (!wantsEvent(hook, e.type)) continue;
      const key = `${e.env ?? ''}\u0000${hookKey(hook)}`;
      let q = this.queues.get(key);
      if (!q) {
        q = new WebhookQueue(this.deps, () => undefined);
        this.queues.set(key, q);
      }
      q.push({ event: e, hook });
    }
  }

  /** Deliveries waiting or under way. */
  get pending(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.size;
    return n;
  }

  stop(): void {
    for (const q of this.queues.values()) q.stop();
    this.queues.clear();
  }
}
