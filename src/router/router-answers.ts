// The answers the router gives itself, not the backend: each a small JSON body that
// says what happened and, when a limit was hit, which one and how to raise it. They
// are built once (per table for the per-environment limits), so answering costs a
// write, not a JSON.stringify.

import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { formatDurationMs } from '../core/duration.ts';
import type { UpstreamFailure } from './upstream-failure.ts';

export interface RouterAnswer {
  status: number;
  /** Flat [name, value, ...]. */
  headers: string[];
  body: Buffer;
}

function jsonAnswer(status: number, fields: Record<string, string | number>, o: { close?: boolean; headers?: string[] } = {}): RouterAnswer {
  const body = Buffer.from(JSON.stringify(fields) + '\n');
  const headers = ['content-type', 'application/json', 'content-length', String(body.length), 'cache-control', 'no-store', ...(o.headers ?? [])];
  // A refused request whose body was not read: closing is cheaper than reading it to keep the connection.
  if (o.close) headers.push('connection', 'close');
  return { status, headers, body };
}

export const NO_BACKEND = jsonAnswer(503, { error: 'no_backend', message: 'no ready backend for this environment; deploy a release or raise its weight' });

/** A 502's `error` and words for each way a backend can fail to answer (upstream-failure.ts); never the backend's address. */
const BAD_GATEWAY_WORDS: Record<UpstreamFailure, { error: string; message: string }> = {
  connect: {
    error: 'upstream_unreachable',
    message: 'the router could not connect to the backend (refused, timed out or unreachable); check that the instance is running and listens on its port',
  },
  invalid: {
    error: 'upstream_invalid_response',
    message: 'the backend answered, but not with a valid HTTP/1.1 response the router can pass on (malformed framing or headers, headers over 16KB, a 100 or 101 it was not asked for, or a transfer coding besides chunked); the service\'s HTTP server is at fault',
  },
  closed: {
    error: 'upstream_closed',
    message: 'the backend closed the connection before it had sent a whole response head; it may have crashed or dropped the request, see its logs',
  },
  other: {
    error: 'upstream_failed',
    message: 'the request to the backend failed before it answered',
  },
};

function badGatewayAnswers(hasRetried: boolean): Record<UpstreamFailure, RouterAnswer> {
  const out = {} as Record<UpstreamFailure, RouterAnswer>;
  for (const [failure, { error, message }] of Object.entries(BAD_GATEWAY_WORDS) as Array<[UpstreamFailure, { error: string; message: string }]>) {
    out[failure] = jsonAnswer(502, { error, message: hasRetried ? `${message}; another backend had been tried first, and failed too` : message });
  }
  return out;
}

const BAD_GATEWAY = badGatewayAnswers(false);
const BAD_GATEWAY_AFTER_RETRY = badGatewayAnswers(true);

/** The 502 for a backend that gave no answer to pass on; `hasRetried`: the request went to another backend first. */
export function badGatewayAnswer(failure: UpstreamFailure, hasRetried: boolean): RouterAnswer {
  return (hasRetried ? BAD_GATEWAY_AFTER_RETRY : BAD_GATEWAY)[failure];
}

/** Node's own limit on request headers (16 KB); not a slipway.yaml key. */
export const HEADERS_TOO_LARGE = jsonAnswer(431, { error: 'headers_too_large', limit: 'max_header_size', limitBytes: 16_384, message: 'the request headers are over 16KB, the router\'s limit' }, { close: true });
/** A request-target that alone is over node's limit on the request head (the same 16 KB as HEADERS_TOO_LARGE). */
export const URI_TOO_LONG = jsonAnswer(414, { error: 'uri_too_long', limit: 'max_header_size', limitBytes: 16_384, message: 'the request-target (path and query) is over 16KB, the router\'s limit on a request head; send long data in a request body' }, { close: true });
/** Node's time limit for the request head (slow-header clients); not a slipway.yaml key. */
export const HEAD_TIMEOUT = jsonAnswer(408, { error: 'head_timeout', limit: 'headers_timeout', limitMs: 60_000, message: 'the request head was not received within 60s, the router\'s limit' }, { close: true });
export const BAD_REQUEST = jsonAnswer(400, { error: 'bad_request', message: 'the request is not valid HTTP/1.1' }, { close: true });
/** Requests node accepts that the router cannot forward as they were framed and addressed (forwardable-request.ts). */
export const TWO_HOSTS = jsonAnswer(400, { error: 'bad_request', message: 'the request has more than one Host header' }, { close: true });
export const TARGET_NOT_HOST = jsonAnswer(400, { error: 'bad_request', message: 'the request-target is a URL whose host is not the Host header; send the path alone, or the same host in both' }, { close: true });
export const BAD_TARGET = jsonAnswer(400, { error: 'bad_request', message: 'the request-target must be a path starting with / (or an http(s) URL of the Host)' }, { close: true });
export const UNKNOWN_CODING = jsonAnswer(501, { error: 'not_implemented', message: 'the router forwards request bodies with Transfer-Encoding: chunked alone, no other transfer coding' }, { close: true });
/**
 * The router is a reverse proxy, not a forward one: it opens no tunnels. 405 (RFC 9110
 * §15.5.6): a method it knows and refuses for every target, as node's own HTTP/2
 * server does. Allow, which a 405 must carry, lists methods it forwards; each
 * backend has the last word on its own resources.
 */
export const CONNECT_REFUSED = jsonAnswer(405, {
  error: 'method_not_allowed',
  method: 'CONNECT',
  message: 'the router does not proxy CONNECT: it opens no tunnels, it forwards requests to the services behind it; send the request itself, with a path',
}, { close: true, headers: ['allow', 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS'] });
/** An upgrade request's body would reach the backend only as its first bytes after a 101, or not at all. */
export const UPGRADE_WITH_BODY = jsonAnswer(400, { error: 'bad_request', message: 'a request asking for Upgrade must not carry a body through the router; send the body in a request without Upgrade' }, { close: true });

/**
 * A request on a listener shared by host (or with a path prefix) that no environment
 * there takes: answered by the router, never passed to some service. Names what it
 * did not know (the host, or the path without its query, which may carry tokens),
 * never the hosts it does know: those are other services' business.
 */
export function unknownRouteAnswer(o: { miss: 'host' | 'path'; listen: string; host: string; url: string; close: boolean }): RouterAnswer {
  const host = o.host.slice(0, 255);
  if (o.miss === 'host') {
    const what = host === '' ? 'the request names no host (no Host header)' : `no environment answers for host ${host}`;
    return jsonAnswer(404, { error: 'unknown_host', host, listen: o.listen, message: `${what} on ${o.listen}; each environment's hosts: in slipway.yaml says which hosts it takes` }, { close: o.close });
  }
  const query = o.url.indexOf('?');
  const path = (query < 0 ? o.url : o.url.slice(0, query)).slice(0, 200);
  return jsonAnswer(404, { error: 'unknown_path', host, path, listen: o.listen, message: `no environment of host ${host} on ${o.listen} takes the path ${path}; each environment's path_prefix: in slipway.yaml says which paths it takes` }, { close: o.close });
}

/** Whether a request declares a body: one the router answers without reading it closes its connection, cheaper than reading it. */
export function hasRequestBody(req: IncomingMessage): boolean {
  return req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
}

/**
 * redirect_http with no https port to name: the environment's TLS listener asked
 * for port 0 and has not bound one (not open yet, or it cannot open). A 503, not a
 * 308 to port 0, which browsers would keep as permanent.
 */
export function httpsNotListeningAnswer(o: { listen: string; close: boolean }): RouterAnswer {
  return jsonAnswer(503, {
    error: 'https_not_listening',
    listen: o.listen,
    message: `the environment's https listener (listen: ${o.listen}) has no port yet, so there is none to redirect to; retry shortly, and if it persists see the router's listener status for why it does not listen`,
  }, { close: o.close });
}

/** "100MB", "1.5GB", "512KB", "1000 bytes": sizes as slipway.yaml writes them. */
export function formatBytes(n: number): string {
  for (const [unit, size] of [['TB', 1024 ** 4], ['GB', 1024 ** 3], ['MB', 1024 ** 2], ['KB', 1024]] as const) {
    if (n >= size) return `${Number((n / size).toFixed(2))}${unit}`;
  }
  return `${n} bytes`;
}

/** The answers that name a per-environment limit, made when a table applies. */
export interface LimitAnswers {
  gatewayTimeout: RouterAnswer;
  bodyTooLarge: RouterAnswer;
  bodyIdle: RouterAnswer;
}

export function limitAnswers(o: { responseTimeoutMs: number; idleTimeoutMs: number; maxBodyBytes: number }): LimitAnswers {
  const response = formatDurationMs(o.responseTimeoutMs);
  const idle = formatDurationMs(o.idleTimeoutMs);
  const size = formatBytes(o.maxBodyBytes);
  return {
    gatewayTimeout: jsonAnswer(504, {
      error: 'upstream_timeout',
      limit: 'response_timeout',
      limitMs: o.responseTimeoutMs,
      message: `the backend sent no response header within ${response} (proxy.response_timeout in slipway.yaml; raise it for slow endpoints)`,
    }),
    bodyTooLarge: jsonAnswer(413, {
      error: 'body_too_large',
      limit: 'max_body',
      limitBytes: o.maxBodyBytes,
      message: `the request body is over ${size} (proxy.max_body in slipway.yaml)`,
    }, { close: true }),
    bodyIdle: jsonAnswer(408, {
      error: 'body_idle',
      limit: 'idle_timeout',
      limitMs: o.idleTimeoutMs,
      message: `the request body sent nothing for ${idle} (proxy.idle_timeout in slipway.yaml)`,
    }, { close: true }),
  };
}

/** Writes an answer on a raw socket (an upgrade request, a client error) and closes it. */
export function writeRawAnswer(socket: Duplex, a: RouterAnswer): void {
  // Node stops watching a socket it hands over (an upgrade, a CONNECT): a client that
  // resets it while the answer goes out must not be an uncaught error.
  socket.on('error', () => {});
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  let head = `HTTP/1.1 ${a.status} ${STATUS_CODES[a.status] ?? ''}\r\n`;
  for (let i = 0; i < a.headers.length; i += 2) if (a.headers[i] !== 'connection') head += `${a.headers[i]}: ${a.headers[i + 1]}\r\n`;
  socket.end(Buffer.concat([Buffer.from(head + 'connection: close\r\n\r\n', 'latin1'), a.body]));
  // A client that never reads must not hold the socket.
  setTimeout(() => socket.destroy(), 2_000).unref();
}
