// The router's answers on a raw HTTP/1.1 socket that node's server gave up on or
// handed over: a request its parser refused (node's 'clientError'), a CONNECT, and
// an upgrade request (`Connection: Upgrade`), whose 101, refusal or backend answer
// is written raw. Each may come pipelined behind good requests on one keep-alive
// connection, whose answers are still to be written; a client reads answers in the
// order it sent its requests (RFC 9112 §9.3.2), so the router's answer (or the
// upgrade, before it even reaches a backend) waits for theirs, else it would be
// taken for the answer to a request the backend may already have acted on. Then the
// connection closes, or becomes the upgraded one.
//
// What is still to be written is node's own state: the socket's `_httpMessage`, the
// answer being written now, with the ones queued behind it handed on in turn as each
// finishes. Read here only, on the error path, so an ordinary request pays nothing
// for it (no listener, no closure, no counter of its own). Node's own clientError
// default reads it the same way (lib/_http_server.js, socketOnError).

import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { BAD_REQUEST, HEAD_TIMEOUT, HEADERS_TOO_LARGE, URI_TOO_LONG, writeRawAnswer, type RouterAnswer } from './router-answers.ts';
import type { RefusalLimit } from './router-stats.ts';

const isAnswering = Symbol('slipway.isAnswering');

type HttpSocket = Socket & {
  /** Node's: the response being written on this socket, if any (set and cleared by node:http). */
  _httpMessage?: ServerResponse | null;
  [isAnswering]?: true;
};

/**
 * What node could not parse: answered (in turn) with a body naming the cause, and
 * counted for the listener's environment (or, on a listener of several, the
 * listener: no host can be trusted from a request node refused).
 */
export function answerClientError(refused: Record<RefusalLimit, number>, err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  // Node's parser fails again on every read after its first error, and says so each time.
  if ((socket as HttpSocket)[isAnswering]) return;
  const isTooLarge = err.code === 'HPE_HEADER_OVERFLOW';
  refused[isTooLarge ? 'max_header_size' : 'bad_request']++;
  if (isTooLarge) answerInTurn(socket, isRequestLineOverLimit(err) ? URI_TOO_LONG : HEADERS_TOO_LARGE);
  else answerInTurn(socket, err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? HEAD_TIMEOUT : BAD_REQUEST);
}

/**
 * Writes the router's answer (and closes) once the answers to the requests read
 * before it on this socket are written; at once when there are none. When the
 * request that failed is the one being answered (its chunked body did not parse),
 * the answer is its own: written in its place if nothing of it has gone out, else
 * the answer it has goes out whole and the connection closes, with nothing after it.
 */
export function answerInTurn(socket: Socket, a: RouterAnswer): void {
  const s = socket as HttpSocket;
  if (!s[isAnswering]) {
    s[isAnswering] = true;
    // Node stopped watching a socket it handed over (a CONNECT): a client that resets
    // it while the answers before this one go out must not be an uncaught error, and
    // those answers must still hear that the socket drained (passDrainOn). On a socket
    // node still watches (a clientError), node's own listener comes first and this one
    // finds nothing left to do.
    socket.on('error', ignoreError);
    socket.on('drain', passDrainOn);
  }
  const current = s._httpMessage;
  if (!socket.writable) {
    socket.destroy();
  } else if (current == null) {
    writeRawAnswer(socket, a);
  } else if (current.req.complete) {
    // Node hands the socket to the next queued answer in its own 'finish' listener,
    // which runs before this one. An answer cut short closes the socket instead, and
    // this is never called: nothing is left to answer on it.
    current.once('finish', () => answerInTurn(socket, a));
  } else if (!current.headersSent) {
    writeRawAnswer(socket, a);
  } else {
    current.once('finish', () => closeSoon(socket));
  }
}

/**
 * Runs `proceed` (an upgrade request's handling: its tunnel, the backend's answer or
 * the router's refusal, all written raw) once the answers to the requests read
 * before it on this socket are written; at once when there are none. Node goes on
 * writing those answers after it handed the socket over, each in turn (its
 * 'finish' listener, which runs before this one). When one of them closes the
 * connection (Connection: close), `proceed` never runs: nothing may follow it.
 * A socket node handed over has no error listener of node's any more.
 */
export function afterEarlierAnswers(socket: Socket, proceed: () => void): void {
  if ((socket as HttpSocket)._httpMessage == null) {
    proceed();
    return;
  }
  socket.on('error', ignoreError);
  socket.on('drain', passDrainOn);
  waitForEarlierAnswers(socket, proceed);
}

function waitForEarlierAnswers(socket: Socket, proceed: () => void): void {
  const current = (socket as HttpSocket)._httpMessage;
  if (current != null) {
    current.once('finish', () => waitForEarlierAnswers(socket, proceed));
    return;
  }
  socket.off('drain', passDrainOn);
  if (socket.writable) proceed();
}

/**
 * Node took its own 'drain' listener off the socket it handed over, and only that one
 * tells the answer being written that it may write again: without this, an answer
 * bigger than the socket's buffer would stop half-way, and the upgrade behind it
 * wait for ever. Node would also clear the answer's flag (writableNeedDrain), which
 * has no public setter: left set, it only makes a 'drain' nobody waits for.
 */
function passDrainOn(this: HttpSocket): void {
  const current = this._httpMessage;
  if (current != null && current.writableNeedDrain) current.emit('drain');
}

/** Ends the connection; a client that does not close its side within 2 s has it cut. */
function closeSoon(socket: Socket): void {
  socket.end();
  setTimeout(() => socket.destroy(), 2_000).unref();
}

function ignoreError(): void {}

/** A method and a space: the start of a request line (RFC 9112 §3). */
const REQUEST_LINE_START = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ /;

/**
 * Whether node's parser went over its 16 KB limit on the request head while still in
 * the request line: the bytes it failed in (err.rawPacket, one read from the socket)
 * begin with a request line that has no line end up to where it failed (err.bytesParsed).
 * A request-target that came in over several reads is not seen whole here, nor can a
 * long target be told from a long header in the last read alone: that one gets the
 * 431 of the head at large, which is true either way.
 */
function isRequestLineOverLimit(err: NodeJS.ErrnoException & { rawPacket?: unknown; bytesParsed?: unknown }): boolean {
  const raw = err.rawPacket;
  if (!Buffer.isBuffer(raw)) return false;
  const failedAt = typeof err.bytesParsed === 'number' ? Math.min(err.bytesParsed, raw.length) : raw.length;
  return REQUEST_LINE_START.test(raw.toString('latin1', 0, Math.min(failedAt, 32))) && raw.subarray(0, failedAt).indexOf(10) < 0;
}
