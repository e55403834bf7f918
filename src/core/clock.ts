// Time, as a port: everything that waits or asks the time in the engine, the
// pipeline and the fleets goes through a Clock, so that in-process tests can run
// a 5-minute pause or a watch window on virtual time (test/support/manual-clock.ts).

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` once after `ms`. The timer never keeps the process alive. */
  setTimeout(fn: () => void, ms: number): Timer;
  /** Calls `fn` every `ms` until cancelled. Never keeps the process alive. */
  setInterval(fn: () => void, ms: number): Timer;
  /** Resolves after `ms`, or at once when `signal` aborts (it never rejects). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Unref where the host offers it: a pending timer must not hold a stopping server open. */
type HostTimer = { unref?(): unknown };

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms) as unknown as HostTimer;
    t.unref?.();
    return { cancel: () => clearTimeout(t as never) };
  },
  setInterval(fn, ms) {
    const t = setInterval(fn, ms) as unknown as HostTimer;
    t.unref?.();
    return { cancel: () => clearInterval(t as never) };
  },
  sleep(ms, signal) {
    return new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const t = systemClock.setTimeout(done, ms);
      function done() {
        t.cancel();
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    });
  },
};
