// The CLI's "still waiting" lines, on real timers.

import { describe, expect, it } from 'vitest';
import { withWaitNotice } from './wait-notice.ts';

const after = <T>(ms: number, value: T): Promise<T> => new Promise((r) => setTimeout(() => r(value), ms));

describe('withWaitNotice', () => {
  it('says nothing when the answer comes before the first notice, and gives the answer', async () => {
    const said: string[] = [];
    expect(await withWaitNotice(after(20, 'release #3'), 200, (l) => said.push(l), (s) => `still waiting (${s} s)`)).toBe('release #3');
    expect(said).toEqual([]);
  });

  it('says a line each interval while waiting, and none after the answer or a failure', async () => {
    const said: string[] = [];
    await withWaitNotice(after(530, 'ok'), 200, (l) => said.push(l), (s) => `still waiting (${s} s)`);
    // Two on time; one if a busy machine held the timers back.
    expect(said.length).toBeGreaterThanOrEqual(1);
    expect(said.length).toBeLessThanOrEqual(2);
    const before = said.length;
    await after(450, null);
    expect(said).toHaveLength(before);
    const failing = after(250, null).then(() => {
      throw new Error('refused');
    });
    await expect(withWaitNotice(failing, 100, (l) => said.push(l), () => 'again')).rejects.toThrow('refused');
    const afterFailure = said.length;
    expect(said.slice(before)).toContain('again');
    await after(350, null);
    expect(said).toHaveLength(afterFailure);
  });
});
