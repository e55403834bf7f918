import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from './clock.ts';

describe('systemClock', () => {
  beforeEach(() => { vi.useFakeTimers({ now: 1_000_000 }); });
  afterEach(() => { vi.useRealTimers(); });

  it('tells the time of the host', () => {
    expect(systemClock.now()).toBe(1_000_000);
  });

  it('a timeout fires once after its delay, and not at all once cancelled', () => {
    const fired = vi.fn();
    systemClock.setTimeout(fired, 100);
    vi.advanceTimersByTime(99);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1000);
    expect(fired).toHaveBeenCalledTimes(1);
    const never = vi.fn();
    systemClock.setTimeout(never, 100).cancel();
    vi.advanceTimersByTime(1000);
    expect(never).not.toHaveBeenCalled();
  });

  it('an interval fires every period until cancelled', () => {
    const tick = vi.fn();
    const t = systemClock.setInterval(tick, 100);
    vi.advanceTimersByTime(350);
    expect(tick).toHaveBeenCalledTimes(3);
    t.cancel();
    vi.advanceTimersByTime(1000);
    expect(tick).toHaveBeenCalledTimes(3);
  });

  it('sleep resolves after its delay, with or without a signal', async () => {
    let done = false;
    const sleeping = systemClock.sleep(100).then(() => { done = true; });
    await vi.advanceTimersByTimeAsync(99);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await sleeping;
    expect(done).toBe(true);
    const withSignal = systemClock.sleep(100, new AbortController().signal);
    await vi.advanceTimersByTimeAsync(100);
    await expect(withSignal).resolves.toBeUndefined();
  });

  it('sleep ends at once when its signal aborts, and at once if it already has', async () => {
    const ac = new AbortController();
    let done = false;
    const sleeping = systemClock.sleep(60_000, ac.signal).then(() => { done = true; });
    await vi.advanceTimersByTimeAsync(10);
    expect(done).toBe(false);
    ac.abort();
    await sleeping;
    expect(done).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    let early = false;
    await systemClock.sleep(60_000, AbortSignal.abort()).then(() => { early = true; });
    expect(early).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });
});
