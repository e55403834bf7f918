// Which headers cross the router, both ways: hop-by-hop ones stay behind (RFC 9110
// §7.6.1), and the client's address, scheme and host go on in X-Forwarded-*.
//
// What a client says about itself is believed only from a proxy in the
// environment's trust_forwarded (a TLS load balancer in front): from such a peer
// X-Forwarded-Proto/Host/Prefix and X-Real-IP are kept, X-Forwarded-For is appended
// to, and an RFC 7239 Forwarded header passes unchanged. From any other peer they
// are set from the connection alone (X-Forwarded-Prefix only when the router strips
// a path prefix) and Forwarded is dropped, so an app cannot be told a made-up client
// address, scheme or mount point. The router adds no Forwarded header of its own.
//
// Apps and libraries read more than these: Rack takes `X-Forwarded-Ssl: on` as
// https, the request-ip package reads `X-Client-IP` before X-Forwarded-For. The
// other headers that claim the client's address, scheme or port (CLAIM_HEADERS)
// are likewise passed from a trusted peer only; the router sets none of them.
//
// The scheme the router sets is https when the client's TLS ended at the router (a
// TLS listener) or at the balancer in front, by its PROXY v2 header's SSL TLV.

import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { proxiedSource } from './proxy-protocol-listener.ts';

/**
 * Copies the client's headers into `out` as a flat [name, value, ...] list, less the
 * hop-by-hop ones, plus X-Forwarded-*. `strippedPrefix`: the path prefix the router
 * took off (slipway.yaml strip_prefix), sent as X-Forwarded-Prefix. Returns the
 * request body's size as declared: 0 none, n > 0 its Content-Length, -1 chunked
 * (known only once read).
 */
export function collectForwardHeaders(req: IncomingMessage, out: string[], isTrusted: (peer: string | undefined) => boolean, strippedPrefix: string | null = null): number {
  const raw = req.rawHeaders;
  const peer = req.socket.remoteAddress;
  const trusted = isTrusted(peer);
  let bodyBytes = 0;
  let host = '';
  let forwardedFor = '';
  let forwardedProto = '';
  let forwardedHost = '';
  let forwardedPrefix = '';
  let realIp = '';
  let connection = '';
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const lower = name.toLowerCase();
    switch (lower) {
      case 'host':
        // HTTP/2 may send a Host besides :authority (forwardable-request.ts has checked they agree): one goes upstream.
        if (host !== '') continue;
        host = value;
        break;
      // HTTP/2 from a client (TLS listener): the authority is the upstream's Host; other pseudo-headers stay behind.
      case ':authority':
        host = value;
        out.push('host', value);
        continue;
      case 'content-length':
        if (bodyBytes !== -1) bodyBytes = Number(value);
        break;
      case 'transfer-encoding':
        bodyBytes = -1;
        continue;
      case 'x-forwarded-for':
        if (trusted) forwardedFor = forwardedFor === '' ? value : `${forwardedFor}, ${value}`;
        continue;
      case 'x-forwarded-proto':
        if (trusted && forwardedProto === '') forwardedProto = value;
        continue;
      case 'x-forwarded-host':
        if (trusted && forwardedHost === '') forwardedHost = value;
        continue;
      case 'x-forwarded-prefix':
        if (trusted && forwardedPrefix === '') forwardedPrefix = value;
        continue;
      case 'x-real-ip':
        if (trusted && realIp === '') realIp = value;
        continue;
      case 'forwarded':
        if (trusted) break;
        continue;
      case 'connection':
        // Every Connection header counts: what any of them lists is hop-by-hop.
        connection = connection === '' ? value : `${connection}, ${value}`;
        continue;
      // node answers `Expect: 100-continue` itself (or address-listener.ts does); undici refuses to send it.
      case 'expect':
      case 'keep-alive':
      case 'te':
      case 'trailer':
      case 'upgrade':
        continue;
      default:
        if (name.charCodeAt(0) === 58) continue; // ':method', ':path', ':scheme' (HTTP/2)
        if (name.length > 6 && isProxyHeader(name)) continue;
        if (!trusted && CLAIM_HEADERS.has(lower)) continue;
    }
    out.push(name, value);
  }
  if (connection !== '') dropConnectionListed(out, connection);
  const client = peer ?? '';
  out.push('x-forwarded-for', forwardedFor === '' ? client : `${forwardedFor}, ${client}`, 'x-forwarded-proto', forwardedProto === '' ? (isTlsClient(req.socket) ? 'https' : 'http') : forwardedProto);
  out.push('x-real-ip', realIp === '' ? client : realIp);
  if (forwardedHost !== '') out.push('x-forwarded-host', forwardedHost);
  else if (host !== '') out.push('x-forwarded-host', host);
  // A proxy in front that mounted us under its own prefix: ours goes after it.
  if (strippedPrefix !== null) out.push('x-forwarded-prefix', forwardedPrefix === '' ? strippedPrefix : `${forwardedPrefix.replace(/\/+$/, '')}${strippedPrefix}`);
  else if (forwardedPrefix !== '') out.push('x-forwarded-prefix', forwardedPrefix);
  return bodyBytes;
}

/**
 * Whether the backend is told the client came over https, by the rules above: a
 * trusted peer's own X-Forwarded-Proto (the first one not empty, its first item:
 * the scheme nearest the client), else the connection (a TLS listener, or a PROXY
 * v2 SSL TLV). What redirect_http reads on a plain listener, so that a request
 * the app would see as https is never sent round to https again.
 */
export function isForwardedHttps(req: IncomingMessage, isTrusted: (peer: string | undefined) => boolean): boolean {
  if (isTrusted(req.socket.remoteAddress)) {
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      if (raw[i + 1] === '' || raw[i]!.toLowerCase() !== 'x-forwarded-proto') continue;
      return raw[i + 1]!.split(',')[0]!.trim().toLowerCase() === 'https';
    }
  }
  return isTlsClient(req.socket);
}

/** Whether the client's connection was TLS: to the router (a TLS socket), or to the balancer whose PROXY header said so. */
function isTlsClient(socket: Socket): boolean {
  return (socket as { encrypted?: boolean }).encrypted === true || proxiedSource(socket)?.isTls === true;
}

/**
 * Headers other than X-Forwarded-For/Proto/Host/Prefix, X-Real-IP and Forwarded by
 * which proxies, CDNs and platforms tell an app the client's address, scheme or
 * port, and which common frameworks believe (Rack, Flask's ProxyFix, request-ip):
 * kept from a peer in trust_forwarded, removed from any other.
 */
const CLAIM_HEADERS: ReadonlySet<string> = new Set([
  'x-forwarded-port', 'x-forwarded-ssl', 'x-forwarded-scheme', 'x-forwarded-protocol', 'x-forwarded-server',
  'x-url-scheme', 'front-end-https',
  'x-client-ip', 'true-client-ip', 'x-cluster-client-ip', 'cf-connecting-ip', 'fastly-client-ip', 'x-appengine-user-ip',
  'x-forwarded', 'forwarded-for', 'x-original-forwarded-for',
]);

function isProxyHeader(name: string): boolean {
  const c = name.charCodeAt(0);
  return (c === 112 || c === 80) && name.slice(0, 6).toLowerCase() === 'proxy-'; // 'p' | 'P'
}

/** Headers named in `Connection: a, b` are hop-by-hop too (RFC 9110 §7.6.1). */
function dropConnectionListed(out: string[], connection: string): void {
  const names = new Set(
    connection
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter((t) => t !== '' && t !== 'close' && t !== 'keep-alive' && t !== 'upgrade'),
  );
  if (names.size === 0) return;
  for (let i = out.length - 2; i >= 0; i -= 2) {
    if (names.has(out[i]!.toLowerCase())) out.splice(i, 2);
  }
}

export function isHopByHopResponseHeader(name: string): boolean {
  const len = name.length;
  if (len === 7 || len === 10 || len === 17) {
    const n = name.toLowerCase();
    if (n === 'connection' || n === 'keep-alive' || n === 'transfer-encoding' || n === 'trailer' || n === 'upgrade') return true;
  }
  return len > 6 && isProxyHeader(name);
}
