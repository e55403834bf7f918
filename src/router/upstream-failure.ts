// What went wrong with a backend that gave no answer the router could pass on, from
// undici's error (or the router's own for a coding it refuses), in the three cases a
// user can act on differently: nothing took the connection (is the instance up, on
// that port?), something answered but not in HTTP/1.1 the router can forward (a
// framing bug in the service, or a server that is no HTTP one), or the backend hung
// up before a whole response head (it crashed or closed on the request). The 502's
// words for each are in router-answers.ts.

export type UpstreamFailure = 'connect' | 'invalid' | 'closed' | 'other';

/** The connection was never made (or its address never resolved). */
const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * A response undici (or the router) will not take: llhttp refused its bytes
 * (HTTPParserError, which has no code when llhttp gives none), its Content-Length
 * disagreed with its framing, its head is over undici's limit, or it names a transfer
 * coding the router cannot pass on (proxy.ts, E_RESPONSE_CODING).
 */
const INVALID_CODES = new Set(['UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'UND_ERR_HEADERS_OVERFLOW', 'E_RESPONSE_CODING']);

/** The backend's side of the connection ended before a whole response head. */
const CLOSED_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

/**
 * undici's SocketError messages for an answer it will not read (a 100 or a 101 nobody
 * asked for, bytes with no request out), not a close, though the code is a close's.
 * The message is all that tells them apart (undici 7, client-h1.js); it decides more
 * than the 502's words: a backend that answered has the request, so it is not sent
 * to another (proxy.ts), and test/router-bad-gateway.test.ts fails if undici's words change.
 */
const BAD_ANSWER_MESSAGES = new Set(['bad response', 'bad upgrade']);

export function upstreamFailureOf(err: Error): UpstreamFailure {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && CONNECT_CODES.has(code)) return 'connect';
  if (err.name === 'HTTPParserError' || (typeof code === 'string' && INVALID_CODES.has(code))) return 'invalid';
  if (code === 'UND_ERR_SOCKET' && BAD_ANSWER_MESSAGES.has(err.message)) return 'invalid';
  if (typeof code === 'string' && CLOSED_CODES.has(code)) return 'closed';
  return 'other';
}
