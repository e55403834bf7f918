import { describe, expect, it } from 'vitest';
import { SlipwayError, errorMessage, isSlipwayError } from './errors.ts';

describe('SlipwayError', () => {
  it('carries its code and details, names itself, and keeps its cause', () => {
    const cause = new Error('disk full');
    const e = new SlipwayError('E_CONFIG_INVALID', 'fix slipway.yaml', { line: 3 }, { cause });
    expect([e.name, e.code, e.message, e.details, e.cause]).toEqual(['SlipwayError', 'E_CONFIG_INVALID', 'fix slipway.yaml', { line: 3 }, cause]);
    expect(String(e)).toBe('SlipwayError: fix slipway.yaml');
    expect(isSlipwayError(e)).toBe(true);
    expect(isSlipwayError(cause)).toBe(false);
  });
});

describe('errorMessage', () => {
  it('gives the message of an Error and the text of anything else thrown', () => {
    expect(errorMessage(new Error('boom'))).toBe('boom');
    expect(errorMessage('plain')).toBe('plain');
    expect(errorMessage({ toString: () => 'thing' })).toBe('thing');
    expect(errorMessage(undefined)).toBe('undefined');
  });
});
