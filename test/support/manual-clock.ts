// A Clock on virtual time, for in-process tests: nothing fires until the test
// advances it, and then every timer due fires in order of its time, with the
// promise chains it starts run to rest before the next one (so a reconciler pass
// that awaits SQLite and a fake fleet finishes before time moves on).

import type { Clock, Timer } from '../../src/core/clock.ts';

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
  every: number | null;
  cancelled: boolean;
}

/** Lets every ready promise continuation and I/O callback run (a few macrotask turns). */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r));
}

export class ManualClock implements Clock {
  private t: number;
  private seq = 0;
  private readonly timers: Pending[] = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    return this.add(fn, ms, null);
  }

  setInterval(fn: () => void, ms: number): Timer {
    return this.add(fn, ms, Math.max(1, ms));
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const t = this.setTimeout(done, ms);
      function done() {
        t.cancel();
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Timers not yet fired or cancelled. */
  get pending(): number {
    return this.timers.filter((p) => !p.cancelled).length;
  }

  /**
   * Moves time forward by `ms`, firing each timer when its time comes, in order,
   * and letting what it started settle before the next.
   */
  async advance(ms: number): Promise<void> {
    const until = this.t + ms;
    await settle();
    for (;;) {
      const next = this.nextDue(until);
      if (!next) break;
      this.t = Math.max(this.t, next.at);
      if (next.every === null) next.cancelled = true;
      else next.at += next.every;
      next.fn();
      await settle(1);
    }
    this.t = until;
    await settle();
  }

  /**
   * Advances in steps of `stepMs` until `done()` holds or `maxMs` of virtual time
   * has passed; returns the virtual time it took. Throws with `what` when it never holds.
   */
  async until(what: string, done: () => boolean, o: { stepMs?: number; maxMs?: number } = {}): Promise<number> {
    const step = o.stepMs ?? 1000;
    const max = o.maxMs ?? 10 * 60_000;
    const from = this.t;
    while (!done()) {
      if (this.t - from >= max) throw new Error(`${what}: not so after ${max} ms of virtual time`);
      await this.advance(step);
    }
    return this.t - from;
  }

  private nextDue(until: number): Pending | null {
    for (let i = this.timers.length - 1; i >= 0; i--) if (this.timers[i]!.cancelled) this.timers.splice(i, 1);
    let best: Pending | null = null;
    for (const p of this.timers) {
      if (p.at > until) continue;
      if (!best || p.at < best.at || (p.at === best.at && p.seq < best.seq)) best = p;
    }
    return best;
  }

  private add(fn: () => void, ms: number, every: number | null): Timer {
    const p: Pending = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, every, cancelled: false };
    this.timers.push(p);
    return { cancel: () => void (p.cancelled = true) };
  }
}
