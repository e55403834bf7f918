// Requests refused before any route sees them: a path Fastify cannot decode or
// match, or bytes node's HTTP parser cannot read. They answer in the API's one
// error shape ({ error: { code, message, details } }) like every other refusal,
// and never echo the request back (a 10 KB path, say).

import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Fastify's `frameworkErrors`: a %-escape that is not UTF-8, a path parameter over the length limit. */
export function answerFrameworkError(err: Error & { code?: string; statusCode?: number }, _req: FastifyRequest, reply: FastifyReply): void {
  const message = err.code === 'FST_ERR_MAX_PARAM_LENGTH'
    ? 'a path segment is too long (over 100 characters): no route takes one that long'
    : err.code === 'FST_ERR_BAD_URL'
      ? 'the path holds a %-escape that is not UTF-8 text, or a lone %'
      : 'the request cannot be routed';
  void reply.status(err.statusCode ?? 400).send({ error: { code: 'E_BAD_REQUEST', message, details: {} } });
}

const REASONS: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

/** Node's `clientError`: the bytes are not an HTTP request it can read; answered, then the connection closed (as Fastify's own handler does). */
export function answerClientError(err: Error & { code?: string }, socket: Socket): void {
  // A reset connection has no one left to tell.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const message = status === 431
    ? 'the request\'s head (request line and headers) is over the 16 KB limit'
    : status === 408 ? 'the request was not received in time' : 'the request is not well-formed HTTP/1.1';
  const body = JSON.stringify({ error: { code: 'E_BAD_REQUEST', message, details: {} } });
  if (socket.writable) socket.write(`HTTP/1.1 ${status} ${REASONS[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  socket.destroy(err);
}
