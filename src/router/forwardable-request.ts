// What a request must look like before the router routes and forwards it, beyond
// what node's parser already refuses (CL with TE, bad lengths, bare LF, obs-fold,
// control characters: test/router-smuggling.test.ts keeps those checked). These are
// requests node accepts that the router could not forward as the client framed and
// addressed them:
//
// - A transfer coding other than `chunked` alone (`gzip, chunked`): node undoes only
//   the chunking, and undici sends no Transfer-Encoding of ours, so the backend would
//   get gzip bytes it is not told about. 501, as nginx does (RFC 9112 §6.1).
// - More than one Host (RFC 9112 §3.2 says 400), or over HTTP/2 a Host that names
//   another than :authority: the router would route by one and undici refuses to
//   send two, which used to be a 502 charged to the backend.
// - A request-target that is not a path: absolute-form naming another host than the
//   Host header would be routed by the Host while the backend, by RFC 9112 §3.2.2,
//   reads the host in the target; `*` and other forms cannot be sent by undici. An
//   absolute-form target naming the Host itself is turned into the path alone, so
//   the router and the backend read the same host and path.

import type { IncomingMessage } from 'node:http';
import { BAD_TARGET, TARGET_NOT_HOST, TWO_HOSTS, UNKNOWN_CODING, type RouterAnswer } from './router-answers.ts';

/** Null when the request may be forwarded (its absolute-form target made a path), else the router's refusal. */
export function normaliseRequest(req: IncomingMessage): RouterAnswer | null {
  const raw = req.rawHeaders;
  let host: string | null = null;
  let authority: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') {
      if (host !== null) return TWO_HOSTS;
      host = raw[i + 1]!;
    } else if (name === ':authority') {
      authority = raw[i + 1]!;
    } else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding' && raw[i + 1]!.trim().toLowerCase() !== 'chunked') {
      // node has checked that chunked comes last; one more coding anywhere is one the router cannot pass on.
      return UNKNOWN_CODING;
    }
  }
  if (authority !== null) {
    // HTTP/2: a Host besides :authority must name the same (RFC 9113 §8.3.1); forward-headers.ts sends one Host.
    if (host !== null && host.toLowerCase() !== authority.toLowerCase()) return TWO_HOSTS;
    host = authority;
  }
  const url = req.url ?? '/';
  if (url.charCodeAt(0) === 47) return null; // '/': origin-form, the common case
  const target = /^https?:\/\/([^/?#]*)(.*)$/i.exec(url);
  if (target === null) return BAD_TARGET;
  const named = target[1]!;
  if (named === '' || named.includes('@') || host === null || named.toLowerCase() !== host.toLowerCase()) return TARGET_NOT_HOST;
  const rest = target[2]!;
  req.url = rest.charCodeAt(0) === 47 ? rest : `/${rest}`;
  return null;
}
