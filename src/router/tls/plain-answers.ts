// What the plain-HTTP listener of a TLS environment answers itself: ACME HTTP-01
// challenges (before any routing, whatever the host's path prefix, since the CA
// asks at the one fixed path), and, with redirect_http, a 308 to the same URL on
// https (308 keeps the method and body, where 301 lets clients turn POST into GET).
//
// A request that already came over TLS, to a balancer in front that ended it and
// passed plain HTTP on, is not redirected: the client is on https already, and a
// redirect would send it round in a loop. The balancer says so as forward-headers.ts
// reads it (a PROXY v2 SSL TLV, or X-Forwarded-Proto from a trusted peer); what an
// untrusted peer says of itself never stops the redirect.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpsRedirect } from '../env-route.ts';
import { isForwardedHttps } from '../forward-headers.ts';
import { hostHeaderOf, requestHost } from '../host-routes.ts';
import { hasRequestBody, httpsNotListeningAnswer, type RouterAnswer } from '../router-answers.ts';

const CHALLENGE_PATH = '/.well-known/acme-challenge/';

/** True when the request was an HTTP-01 challenge this listener knows, and it was answered. */
export function answerAcmeChallenge(challenges: ReadonlyMap<string, string>, req: IncomingMessage, res: ServerResponse): boolean {
  const url = req.url ?? '/';
  if (!url.startsWith(CHALLENGE_PATH)) return false;
  const keyAuthorization = challenges.get(url.slice(CHALLENGE_PATH.length));
  if (keyAuthorization === undefined) return false;
  const body = Buffer.from(keyAuthorization);
  res.writeHead(200, ['content-type', 'application/octet-stream', 'content-length', String(body.length), 'cache-control', 'no-store']);
  res.end(body);
  return true;
}

/**
 * The answer of redirect_http to a request (`url` as the client sent it, prefix and
 * all): the 308, or a 503 while the https listener has no port; null when the
 * request came over TLS to a balancer in front, which `redirect.environment` serves.
 */
export function redirectAnswer(redirect: HttpsRedirect, req: IncomingMessage, url: string): RouterAnswer | null {
  if (isForwardedHttps(req, redirect.environment.proxy.isTrusted)) return null;
  const port = redirect.httpsPort();
  if (port === null) return httpsNotListeningAnswer({ listen: redirect.listen, close: hasRequestBody(req) });
  return httpsRedirect(req, url, port);
}

function httpsRedirect(req: IncomingMessage, url: string, httpsPort: number): RouterAnswer {
  const host = requestHost(hostHeaderOf(req.rawHeaders));
  const location = `https://${host}${httpsPort === 443 ? '' : `:${httpsPort}`}${url.startsWith('/') ? url : '/'}`;
  const body = Buffer.from(`redirecting to ${location}\n`);
  const headers = ['location', location, 'content-type', 'text/plain', 'content-length', String(body.length), 'cache-control', 'no-store'];
  // A body not read: closing is cheaper than reading it to keep the connection.
  if (hasRequestBody(req)) headers.push('connection', 'close');
  return { status: 308, headers, body };
}
