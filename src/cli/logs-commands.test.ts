// What `slipway logs` and `slipway events` print of text an app or a deployer wrote:
// its colour, but never a control sequence that would act on the operator's terminal.

import { describe, expect, it } from 'vitest';
import { formatLogRecord } from './logs-commands.ts';
import { formatEvent, terminalSafe } from './output.ts';

describe('terminalSafe', () => {
  it('keeps colour as written and shows every other control character as text', () => {
    const line = '\x1b[31mred\x1b[0m \x1b]52;c;ZXZpbA==\x07 \x1b]0;title\x07 \x1b[2J\x1b[H done\rspoof \x9b6n tab\tkept';
    expect(terminalSafe(line)).toBe('\x1b[31mred\x1b[0m \\x1b]52;c;ZXZpbA==\\x07 \\x1b]0;title\\x07 \\x1b[2J\\x1b[H done\\x0dspoof \\x9b6n tab\tkept');
  });

  it('shows bidi embeddings, overrides and isolates as text, and keeps the direction marks and right-to-left text', () => {
    expect(terminalSafe('user \u202etxt.exe\u202c and \u2066x\u2069')).toBe('user \\u202etxt.exe\\u202c and \\u2066x\\u2069');
    expect(terminalSafe('שלום \u200f ok')).toBe('שלום \u200f ok');
  });

  it('leaves ordinary text, unicode included, alone', () => {
    expect(terminalSafe('GET /api/items 200 in 3 ms — ok ✓')).toBe('GET /api/items 200 in 3 ms — ok ✓');
  });
});

describe('formatLogRecord', () => {
  it('prints an instance line with no escape sequence of the app except colour', () => {
    const out = formatLogRecord({ ts: '2026-12-07T06:00:00.000Z', instance: 'i-1', stream: 'stdout', level: 'info', msg: 'hi \x1b]52;c;cm0gLXJmIH4=\x07' } as never);
    expect(out).toContain('hi \\x1b]52;c;cm0gLXJmIH4=\\x07');
    expect(out).not.toContain('\x1b]');
    expect(out).not.toContain('\x07');
  });
});

describe('formatEvent (what deploy prints as its rollout goes)', () => {
  it('keeps the line breaks of a failure that quotes an instance\'s last log lines, and escapes what the app put in them', () => {
    const out = formatEvent({ id: 1, rolloutId: 1, ts: Date.parse('2026-12-07T06:00:00Z'), level: 'error', message: 'instance failed; last log lines:\n    boom \x1b]0;owned\x07' } as never);
    expect(out).toContain('last log lines:\n    boom \\x1b]0;owned\\x07');
    expect(out).not.toContain('\x1b]');
  });
});
