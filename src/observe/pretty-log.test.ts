import { describe, expect, it } from 'vitest';
import { prettyLine } from './pretty-log.ts';

describe('prettyLine', () => {
  it('turns a pino JSON line into time, level, message and the other fields', () => {
    const line = JSON.stringify({ level: 40, time: Date.UTC(2026, 10, 29, 12, 0, 1, 234), pid: 7, reqId: 'abc', msg: 'route push failed', env: 'prod', err: 'connect ECONNREFUSED' });
    expect(prettyLine(line)).toBe('12:00:01.234 WARN  route push failed  reqId=abc env=prod err="connect ECONNREFUSED"\n');
  });

  it('passes a line that is not JSON through', () => {
    expect(prettyLine('not json')).toBe('not json\n');
  });
});
