import { describe, expect, it } from 'vitest';
import type { FreezeWindow } from '../service-config.ts';
import { freezeDecision, openFreezes } from './freeze.ts';

const at = (iso: string) => Date.parse(iso);

describe('freeze windows', () => {
  // Friday 17:00 UTC for 64 h: the weekend until Monday 09:00.
  const weekend: FreezeWindow = { cron: '0 17 * * 5', durationMs: 64 * 3600_000, timezone: 'UTC', action: 'wait', reason: 'weekend' };
  const holidays: FreezeWindow = { fromMs: at('2026-12-24T00:00:00Z'), untilMs: at('2026-12-27T00:00:00Z'), action: 'refuse', reason: null };

  it.each([
    ['2026-11-27T16:59:59Z', false], // Friday, a second before
    ['2026-11-27T17:00:00Z', true], // the moment it opens
    ['2026-11-29T12:00:00Z', true], // Sunday
    ['2026-11-30T08:59:59Z', true],
    ['2026-11-30T09:00:00Z', false], // Monday 09:00: closed
    ['2026-12-02T12:00:00Z', false], // Wednesday
  ])('a cron window at %s is open: %s', (when, open) => {
    expect(openFreezes([weekend], at(when)).length > 0).toBe(open);
  });

  it('a cron window reports when it closes', () => {
    const [f] = openFreezes([weekend], at('2026-11-28T10:00:00Z'));
    expect(new Date(f!.untilMs).toISOString()).toBe('2026-11-30T09:00:00.000Z');
  });

  it('a date window is open from its start up to, not including, its end', () => {
    expect(openFreezes([holidays], at('2026-12-23T23:59:59Z'))).toHaveLength(0);
    expect(openFreezes([holidays], at('2026-12-24T00:00:00Z'))).toHaveLength(1);
    expect(openFreezes([holidays], at('2026-12-27T00:00:00Z'))).toHaveLength(0);
  });

  it('honours the time zone of a cron window', () => {
    const paris: FreezeWindow = { ...weekend, timezone: 'Europe/Paris' };
    // 17:00 in Paris is 16:00 UTC in winter.
    expect(openFreezes([paris], at('2026-11-27T16:30:00Z'))).toHaveLength(1);
    expect(openFreezes([weekend], at('2026-11-27T16:30:00Z'))).toHaveLength(0);
  });

  it('a run waits for waiting windows until the latest closes, and fails when any open window refuses', () => {
    const now = at('2026-12-25T12:00:00Z');
    const shortWait: FreezeWindow = { fromMs: now - 1000, untilMs: now + 60_000, action: 'wait', reason: null };
    expect(freezeDecision([], now)).toEqual({ kind: 'open' });
    expect(freezeDecision([weekend, shortWait], now)).toMatchObject({ kind: 'wait', untilMs: now + 60_000 });
    expect(freezeDecision([shortWait, { ...shortWait, untilMs: now + 120_000 }], now)).toMatchObject({ kind: 'wait', untilMs: now + 120_000 });
    const d = freezeDecision([shortWait, holidays], now);
    expect(d.kind).toBe('refuse');
    expect(d.kind === 'refuse' && d.text).toMatch(/freeze from 2026-12-24T00:00:00.000Z until 2026-12-27T00:00:00.000Z/);
  });
});

describe('what a freeze says', () => {
  const weekend: FreezeWindow = { cron: '0 17 * * 5', durationMs: 64 * 3600_000, timezone: 'UTC', action: 'wait', reason: 'weekend' };

  it('names the cron window, its time zone, when it opened and closes, and why', () => {
    const d = freezeDecision([weekend, { ...weekend, reason: null, action: 'refuse', timezone: 'Europe/Paris' }], at('2026-11-28T10:00:00Z'));
    expect(d).toEqual({
      kind: 'refuse',
      text: 'freeze "0 17 * * 5" (UTC) from 2026-11-27T17:00:00.000Z until 2026-11-30T09:00:00.000Z: weekend; '
        + 'freeze "0 17 * * 5" (Europe/Paris) from 2026-11-27T16:00:00.000Z until 2026-11-30T08:00:00.000Z',
    });
  });

  it('a cron window about to open within the second is not open yet', () => {
    expect(openFreezes([weekend], at('2026-11-27T16:59:59.500Z'))).toHaveLength(0);
    const [f] = openFreezes([weekend], at('2026-11-27T17:00:00.500Z'));
    expect(f!.sinceMs).toBe(at('2026-11-27T17:00:00Z'));
  });
});
