// Who may use the router's admin API: the slipway server, which alone holds the
// admin secret. Browsers are refused outright, whatever they carry: a web page can
// send a request to 127.0.0.1 (`fetch(url, { mode: 'no-cors' })`, or by DNS
// rebinding a name of its own), and it must change nothing, read nothing.

import { carriesSecret } from './admin-secret.ts';

export interface AdminRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
}

export type AdminVerdict =
  | { ok: true }
  | { ok: false; status: 401 | 403 | 415; code: 'E_UNAUTHENTICATED' | 'E_FORBIDDEN' | 'E_BAD_REQUEST'; message: string };

/** Liveness and readiness probes: they say nothing about routes, so they answer without the secret. */
const PUBLIC_PROBES = new Set(['GET /healthz', 'GET /readyz']);

/** The names this API answers to; any other Host is a DNS-rebinding page. */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

export function checkAdminRequest(req: AdminRequest, secret: string): AdminVerdict {
  const browser = browserMark(req.headers);
  if (browser !== null) {
    return { ok: false, status: 403, code: 'E_FORBIDDEN', message: `the router's admin API is for the slipway server only; a request with ${browser} comes from a browser` };
  }
  if (PUBLIC_PROBES.has(`${req.method} ${req.path}`)) return { ok: true };
  if (!carriesSecret(header(req.headers, 'authorization'), secret)) {
    return { ok: false, status: 401, code: 'E_UNAUTHENTICATED', message: "the router's admin API answers the slipway server only: send its admin secret as `Authorization: Bearer …`" };
  }
  if (req.method !== 'GET' && req.method !== 'HEAD' && !isJson(header(req.headers, 'content-type'))) {
    return { ok: false, status: 415, code: 'E_BAD_REQUEST', message: 'admin requests that change something must be sent as content-type: application/json' };
  }
  return { ok: true };
}

/** What marks a request as sent by a browser, or null. (Node's fetch sends Sec-Fetch-Mode, never Origin or Sec-Fetch-Site.) */
function browserMark(headers: AdminRequest['headers']): string | null {
  if (headers.origin !== undefined) return 'an Origin header';
  if (headers['sec-fetch-site'] !== undefined) return 'a Sec-Fetch-Site header';
  const host = header(headers, 'host');
  if (host !== undefined && !LOOPBACK_HOSTS.has(host.replace(/:\d+$/, '').toLowerCase())) return `Host "${host}"`;
  return null;
}

function isJson(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase() === 'application/json';
}

function header(headers: AdminRequest['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}
