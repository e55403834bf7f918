import { describe, expect, it } from 'vitest';
import { EVENT_TYPES, isEventType } from './events.ts';

describe('isEventType', () => {
  it('knows every published event type and nothing else', () => {
    expect(EVENT_TYPES.every(isEventType)).toBe(true);
    expect(isEventType('rollout.started')).toBe(true);
    expect(isEventType('rollout.exploded')).toBe(false);
    expect(isEventType('')).toBe(false);
  });
});
