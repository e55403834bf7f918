// Backend connections on which a `100 Continue` nobody asked for is dropped before
// undici reads it. undici 7's HTTP/1.1 client takes any 100 for a broken answer and
// destroys the connection (nodejs/undici#197: it does not do Expect: 100-continue),
// so a backend that sends one before its real answer cost the client a 502. The
// router never sends Expect on (it answers the client's itself, proxy.ts), so every
// 100 a backend sends is unasked for, and RFC 9110 §15.2.1 says to discard it. Other
// 1xx (102, 103) pass: undici reads them and proxy.ts drops them; a 101 passes for
// undici to refuse when no upgrade was asked for.
//
// A 100 is dropped only where a response starts: from undici's announcement that it
// is writing a request on the socket ('undici:client:sendHeaders', a documented
// diagnostics channel; one request at a time per connection, pipelining 1) to the
// first status line that is not an interim one. Body bytes are never looked at.

import { subscribe } from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import type { buildConnector } from 'undici';

/** An interim head longer than this is not held back to be read whole: it passes as it is. */
const MAX_INTERIM_HEAD_BYTES = 16_384;
const STATUS_LINE = 'HTTP/1.# ###';

const responseStart = Symbol('slipway.responseStart');
type WatchedSocket = Socket & { [responseStart]?: ResponseStartFilter };

/** The reads of one connection while a response is to start. */
export class ResponseStartFilter {
  /** True from a request's head going out until its response's final status line. */
  isAtStart = false;
  /** The start of a status line or interim head that came in pieces, held until it is whole. */
  private held: Buffer | null = null;

  /** The bytes of `chunk` undici is to read, less any 100 heads; null when none are yet. */
  take(chunk: Buffer): Buffer | null {
    const bytes = this.held === null ? chunk : Buffer.concat([this.held, chunk]);
    this.held = null;
    const kept: Buffer[] = [];
    let at = 0;
    while (at < bytes.length) {
      const status = statusAt(bytes, at);
      if (status === 'partial') {
        this.held = bytes.subarray(at);
        break;
      }
      if (status < 100 || status > 199 || status === 101) {
        this.isAtStart = false;
        kept.push(bytes.subarray(at));
        break;
      }
      const end = bytes.indexOf('\r\n\r\n', at, 'latin1');
      if (end < 0 && bytes.length - at <= MAX_INTERIM_HEAD_BYTES) {
        this.held = bytes.subarray(at);
        break;
      }
      if (end < 0) {
        this.isAtStart = false;
        kept.push(bytes.subarray(at));
        break;
      }
      if (status !== 100) kept.push(bytes.subarray(at, end + 4));
      at = end + 4;
    }
    return kept.length === 0 ? null : kept.length === 1 ? kept[0]! : Buffer.concat(kept);
  }
}

/** The status code of a status line at `at`; 0 for bytes that are none; 'partial' when too few have come to tell. */
function statusAt(bytes: Buffer, at: number): number | 'partial' {
  const n = Math.min(bytes.length - at, STATUS_LINE.length);
  for (let i = 0; i < n; i++) {
    const c = bytes[at + i]!;
    const expected = STATUS_LINE.charCodeAt(i);
    if (expected === 35 /* # */ ? c < 48 || c > 57 : c !== expected) return 0;
  }
  if (n < STATUS_LINE.length) return 'partial';
  return Number(bytes.toString('latin1', at + 9, at + 12));
}

let isWatchingRequests = false;

function watchRequestStarts(): void {
  if (isWatchingRequests) return;
  isWatchingRequests = true;
  subscribe('undici:client:sendHeaders', (message) => {
    const filter = (message as { socket?: WatchedSocket }).socket?.[responseStart];
    if (filter !== undefined) filter.isAtStart = true;
  });
}

/** Puts the filter between the socket and undici, which reads it with socket.read(). */
function filterReads(socket: WatchedSocket): void {
  const filter = new ResponseStartFilter();
  socket[responseStart] = filter;
  const read = socket.read;
  socket.read = function filteredRead(this: Socket, size?: number) {
    for (;;) {
      const chunk: unknown = read.call(this, size);
      if (!filter.isAtStart || !Buffer.isBuffer(chunk)) return chunk;
      const kept = filter.take(chunk);
      if (kept !== null) return kept;
    }
  } as Socket['read'];
}

/** `connect` for an undici Pool: its connections drop an unasked-for 100 Continue. */
export function dropUnaskedContinue(connect: buildConnector.connector): buildConnector.connector {
  watchRequestStarts();
  return (options, callback) => {
    connect(options, (...args) => {
      if (args[0] === null) filterReads(args[1]);
      callback(...args);
    });
  };
}
