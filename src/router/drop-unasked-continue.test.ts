import { describe, expect, it } from 'vitest';
import { ResponseStartFilter } from './drop-unasked-continue.ts';

const FINAL = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello';
const BIG_INTERIM = `HTTP/1.1 103 Early Hints\r\nLink: ${'a'.repeat(20_000)}`;

/** The reads of one response, as undici would get them; `atStart` after them. */
function readAll(chunks: string[]): { passed: string[]; atStart: boolean } {
  const filter = new ResponseStartFilter();
  filter.isAtStart = true;
  const passed: string[] = [];
  for (const chunk of chunks) {
    const kept = filter.isAtStart ? filter.take(Buffer.from(chunk, 'latin1')) : Buffer.from(chunk, 'latin1');
    if (kept !== null) passed.push(kept.toString('latin1'));
  }
  return { passed, atStart: filter.isAtStart };
}

describe('ResponseStartFilter', () => {
  it.each<[string, string[], string[], boolean]>([
    ['a final answer, untouched', [FINAL], [FINAL], false],
    ['a 100 before it, dropped', [`HTTP/1.1 100 Continue\r\n\r\n${FINAL}`], [FINAL], false],
    ['an HTTP/1.0 100 with a header, dropped', [`HTTP/1.0 100 Continue\r\nX-A: 1\r\n\r\n${FINAL}`], [FINAL], false],
    ['a 100 alone, then the answer in a later read', ['HTTP/1.1 100 Continue\r\n\r\n', FINAL], [FINAL], false],
    ['a 100 in three reads', ['HTTP/1.1 10', '0 Continue\r', '\n\r\n', FINAL], [FINAL], false],
    ['a 103 and a 102, passed for undici to read', [`HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n${FINAL}`], [`HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n${FINAL}`], false],
    ['a 101, passed for undici to judge', ['HTTP/1.1 101 Switching Protocols\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n'], ['HTTP/1.1 101 Switching Protocols\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n'], false],
    ['bytes that are no status line, passed for undici to refuse', ['HTTP/1.1 1x0 Continue\r\n\r\n'], ['HTTP/1.1 1x0 Continue\r\n\r\n'], false],
    ['an interim head over 16KB without its end, passed as it is', [BIG_INTERIM], [BIG_INTERIM], false],
    ['a 100 not yet whole, held', ['HTTP/1.1 100 Contin'], [], true],
  ])('%s', (_name, chunks, passed, atStart) => {
    expect(readAll(chunks)).toEqual({ passed, atStart });
  });

  it('leaves body bytes that look like a 100 alone once the final status line has passed', () => {
    expect(readAll([FINAL.slice(0, -5), 'HTTP/1.1 100 Continue\r\n\r\n'])).toEqual({ passed: [FINAL.slice(0, -5), 'HTTP/1.1 100 Continue\r\n\r\n'], atStart: false });
  });
});
