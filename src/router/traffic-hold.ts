// The pieces of maintenance and traffic pauses that an environment's route holds
// (env-route.ts): its maintenance answers, built once per table, and the queue of
// requests a pause holds. What a listener does with them is traffic-gate.ts.

import type { HoldRoutes, MaintenanceRoutes } from './route-table.ts';
import type { RouterAnswer } from './router-answers.ts';

/** An environment's maintenance answers, built once per table. */
export interface MaintenanceAnswers {
  json: RouterAnswer;
  html: RouterAnswer;
}

export function maintenanceAnswers(m: MaintenanceRoutes): MaintenanceAnswers {
  const retryAfter = String(m.retryAfterSeconds);
  const common = ['retry-after', retryAfter, 'cache-control', 'no-store'];
  const json = Buffer.from(JSON.stringify({ error: 'maintenance', message: m.message, retryAfterSeconds: m.retryAfterSeconds }) + '\n');
  const html = Buffer.from(maintenancePage(m.message));
  return {
    json: { status: 503, headers: ['content-type', 'application/json', 'content-length', String(json.length), ...common], body: json },
    html: { status: 503, headers: ['content-type', 'text/html; charset=utf-8', 'content-length', String(html.length), ...common], body: html },
  };
}

function maintenancePage(message: string): string {
  const text = escapeHtml(message);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Down for maintenance</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:15vh auto;padding:0 1rem;color:#222}h1{font-size:1.4rem}</style>
</head><body><h1>Down for maintenance</h1><p>${text}</p></body></html>
`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * HTML when the client asks for text/html before (or without) application/json, as
 * a browser does; JSON otherwise, including for no Accept and for * / *: an API
 * client or a script reads a JSON error more easily than a page.
 */
export function prefersHtml(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  const html = accept.indexOf('text/html');
  if (html < 0) return false;
  const json = accept.indexOf('application/json');
  return json < 0 || html < json;
}

interface Held {
  run: () => void;
  isGone: boolean;
  /** Holds a slot of the shared queue limit (HoldSlots), to give back when it goes. */
  hasSlot: boolean;
  /** The pause it was held by (its slot belongs to that pause). */
  untilMs: number;
}

/**
 * The queue limit shared by the router's worker processes (router-workers.ts): each
 * held request asks the keeper for a slot of the pause (`untilMs` tells pauses apart).
 */
export interface HoldSlots {
  acquire(pause: { untilMs: number; queueLimit: number }): Promise<boolean>;
  release(pause: { untilMs: number }): void;
}

/** setTimeout holds at most 2^31-1 ms; a later deadline is re-armed when this one fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The requests one environment's pause holds. Kept for the router's life (one per
 * environment), so a table that changes something else does not drop them; a
 * table without the pause, or the deadline, sends them all on in arrival order.
 */
export class TrafficHold {
  /** Read by the listener for every request: true while a pause holds. */
  isHolding = false;
  private untilMs = 0;
  private queueLimit = 0;
  private queue: Held[] = [];
  /** Held requests whose clients are still there. */
  private waiting = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly slots: HoldSlots | null = null,
  ) {}

  get waitingNow(): number {
    return this.waiting;
  }

  /** A table's hold for the environment (null: none): starts, moves or ends the pause. */
  update(hold: HoldRoutes | null): void {
    if (hold === null || hold.untilMs <= this.now()) {
      this.release();
      return;
    }
    this.untilMs = hold.untilMs;
    this.queueLimit = hold.queueLimit;
    this.isHolding = true;
    this.arm();
  }

  private arm(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    const left = this.untilMs - this.now();
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.untilMs <= this.now()) this.release();
      else this.arm();
    }, Math.max(0, Math.min(left, MAX_TIMER_MS)));
    this.timer.unref();
  }

  /**
   * Holds `run` until the pause ends; false when the queue is full (the caller
   * answers). With shared slots, it is held while the keeper is asked, and
   * `onRefused` answers it if the workers' queues are full together.
   */
  admit(run: () => void, onGone: (forget: () => void) => void, onRefused: () => void = () => {}): boolean {
    if (this.waiting >= this.queueLimit) return false;
    const held: Held = { run, isGone: false, hasSlot: false, untilMs: this.untilMs };
    this.queue.push(held);
    this.waiting++;
    onGone(() => {
      // Released already (isGone is set before it runs), or gone before.
      if (held.isGone) return;
      held.isGone = true;
      this.waiting--;
      this.giveBack(held);
    });
    if (this.slots !== null) this.askSlot(held, onRefused);
    return true;
  }

  private askSlot(held: Held, onRefused: () => void): void {
    const pause = { untilMs: this.untilMs, queueLimit: this.queueLimit };
    this.slots!.acquire(pause).then(
      (isGranted) => {
        if (isGranted) {
          held.hasSlot = true;
          // Sent on or gone while the keeper was asked: the slot goes back at once.
          if (held.isGone) this.slots!.release(pause);
          return;
        }
        if (held.isGone) return;
        held.isGone = true;
        this.waiting--;
        onRefused();
      },
      () => {}, // the keeper is gone (the worker exits with it): the request stays held
    );
  }

  private giveBack(held: Held): void {
    if (!held.hasSlot || this.slots === null) return;
    held.hasSlot = false;
    this.slots.release({ untilMs: held.untilMs });
  }

  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil((this.untilMs - this.now()) / 1000));
  }

  get limit(): number {
    return this.queueLimit;
  }

  /** Ends the pause: every held request goes on, first come first sent. */
  release(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.isHolding = false;
    const queue = this.queue;
    this.queue = [];
    this.waiting = 0;
    for (const held of queue) {
      if (held.isGone) continue;
      held.isGone = true;
      this.giveBack(held);
      held.run();
    }
  }
}
