import { describe, expect, it } from 'vitest';
import { INSTANCE_STATES, isLive } from './records.ts';

describe('isLive', () => {
  it('an instance is live from starting until it has stopped or failed', () => {
    expect(INSTANCE_STATES.filter(isLive)).toEqual(['starting', 'ready', 'draining', 'stopping']);
  });
});
