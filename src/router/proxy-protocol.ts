// The PROXY protocol header (haproxy.org/download/2.6/doc/proxy-protocol.txt) that a
// TCP load balancer (HAProxy's send-proxy, an AWS NLB) sends before the client's
// own bytes, to say whom the connection is from. Version 1 is one text line, version
// 2 a binary block; both are read strictly here and anything else is refused,
// since a header read loosely is a client address made up. Of version 2's TLVs the
// router keeps one fact: whether the client reached the sender over TLS.
//
// Pure: bytes in, a verdict out. It reads as the bytes arrive (`more` until it can
// tell), so a header split over several TCP segments is read whole, and it says
// `none` as soon as the first bytes cannot begin a header (a client that connected
// directly). No npm package was used: proxy-protocol-js parses a buffer known to
// hold a whole header, and the incremental reading is most of the work.

import { isIPv4, isIPv6 } from 'node:net';
import type { ProxyProtocolMode } from '../core/service-config.ts';

/** The longest version 1 line, CRLF included (spec §2.1: 107 bytes). */
export const V1_MAX_BYTES = 107;
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** Version 2's 12-byte signature (spec §2.2). */
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_FIXED_BYTES = 16;
/** A TLV's type byte and 2-byte length (spec §2.2.7). */
const TLV_HEAD_BYTES = 3;
/** PP2_TYPE_SSL: how the client reached the sender; its value opens with a client byte and a 4-byte verify (§2.2.5). */
export const PP2_TYPE_SSL = 0x20;
const SSL_FIXED_BYTES = 5;
/** The client byte's bit for "the client connected over SSL/TLS". */
export const PP2_CLIENT_SSL = 0x01;

/** The client the header names. */
export interface ProxySource {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
  /**
   * The client reached the sender over TLS, which ended it there (a version 2
   * PP2_TYPE_SSL TLV with PP2_CLIENT_SSL, HAProxy's send-proxy-v2-ssl). Always false
   * from version 1, which cannot say.
   */
  isTls: boolean;
}

export type ProxyHeaderRead =
  /** Not enough bytes yet to tell. */
  | { kind: 'more' }
  /** The bytes do not begin a PROXY header (a direct client). */
  | { kind: 'none' }
  /**
   * A whole header of `bytes` bytes. `source` null: the header names no client (v1
   * UNKNOWN, v2 LOCAL, an UNSPEC or UNIX family): the connection's own peer stands.
   */
  | { kind: 'header'; version: 1 | 2; bytes: number; source: ProxySource | null }
  /** A header that breaks the protocol, or of a version this listener does not read. */
  | { kind: 'invalid'; reason: string };

/** Reads the header at the start of `buf`, if any: see ProxyHeaderRead. */
export function readProxyHeader(buf: Buffer, mode: ProxyProtocolMode): ProxyHeaderRead {
  if (startsLike(buf, V1_PREFIX)) {
    if (buf.length < V1_PREFIX.length) return { kind: 'more' };
    if (mode === 'v2') return { kind: 'invalid', reason: 'a version 1 header on a listener that reads version 2 only' };
    return readV1(buf);
  }
  if (startsLike(buf, V2_SIGNATURE)) {
    if (buf.length < V2_SIGNATURE.length) return { kind: 'more' };
    if (mode === 'v1') return { kind: 'invalid', reason: 'a version 2 header on a listener that reads version 1 only' };
    return readV2(buf);
  }
  return { kind: 'none' };
}

/** Whether what `buf` holds so far is a prefix of `sig`, or begins with it. */
function startsLike(buf: Buffer, sig: Buffer): boolean {
  const n = Math.min(buf.length, sig.length);
  if (n === 0) return true;
  return buf.compare(sig, 0, n, 0, n) === 0;
}

const PORT = /^(0|[1-9]\d{0,4})$/;

function readV1(buf: Buffer): ProxyHeaderRead {
  // The CR is at most the 106th byte, so that CRLF ends within V1_MAX_BYTES.
  const limit = Math.min(buf.length, V1_MAX_BYTES - 1);
  let end = -1;
  for (let i = V1_PREFIX.length; i < limit; i++) {
    const c = buf[i]!;
    if (c === 0x0d) {
      if (i + 1 >= buf.length) return { kind: 'more' };
      if (buf[i + 1] !== 0x0a) return { kind: 'invalid', reason: 'a version 1 header with CR not followed by LF' };
      end = i;
      break;
    }
    // The line is printable US-ASCII (spec §2.1); a NUL or LF alone means it is not one.
    if (c < 0x20 || c > 0x7e) return { kind: 'invalid', reason: 'a version 1 header with a byte that is not printable ASCII' };
  }
  if (end < 0) return buf.length < V1_MAX_BYTES - 1 ? { kind: 'more' } : { kind: 'invalid', reason: `a version 1 header longer than ${V1_MAX_BYTES} bytes` };
  const line = buf.toString('latin1', V1_PREFIX.length, end);
  const bytes = end + 2;
  // UNKNOWN: the sender could not tell (or it is its own health check); what follows is ignored (§2.1).
  if (line === 'UNKNOWN' || line.startsWith('UNKNOWN ')) return { kind: 'header', version: 1, bytes, source: null };
  const parts = line.split(' ');
  if (parts.length !== 5) return { kind: 'invalid', reason: 'a version 1 header that is not "PROXY TCP4|TCP6 SRC DST SPORT DPORT"' };
  const [proto, src, dst, sport, dport] = parts as [string, string, string, string, string];
  const isAddress = proto === 'TCP4' ? isIPv4 : proto === 'TCP6' ? isIPv6 : null;
  if (isAddress === null) return { kind: 'invalid', reason: `a version 1 header with protocol ${JSON.stringify(proto.slice(0, 10))} (TCP4, TCP6 or UNKNOWN)` };
  if (!isAddress(src) || !isAddress(dst)) return { kind: 'invalid', reason: `a version 1 header whose addresses are not ${proto === 'TCP4' ? 'IPv4' : 'IPv6'}` };
  if (!isPort(sport) || !isPort(dport)) return { kind: 'invalid', reason: 'a version 1 header with a port that is not 0 to 65535' };
  return { kind: 'header', version: 1, bytes, source: { address: src, port: Number(sport), family: proto === 'TCP4' ? 'IPv4' : 'IPv6', isTls: false } };
}

function isPort(text: string): boolean {
  return PORT.test(text) && Number(text) <= 65535;
}

function readV2(buf: Buffer): ProxyHeaderRead {
  if (buf.length < V2_FIXED_BYTES) return { kind: 'more' };
  const versionCommand = buf[12]!;
  if (versionCommand >> 4 !== 2) return { kind: 'invalid', reason: `a version 2 header with version ${versionCommand >> 4}` };
  const command = versionCommand & 0x0f;
  if (command > 1) return { kind: 'invalid', reason: `a version 2 header with command ${command} (LOCAL or PROXY)` };
  const family = buf[13]! >> 4;
  const transport = buf[13]! & 0x0f;
  if (family > 3 || transport > 2) return { kind: 'invalid', reason: `a version 2 header with address family byte 0x${buf[13]!.toString(16).padStart(2, '0')}` };
  const length = buf.readUInt16BE(14);
  const need = family === 1 ? 12 : family === 2 ? 36 : family === 3 ? 216 : 0;
  if (length < need) return { kind: 'invalid', reason: `a version 2 header of ${length} address bytes, too few for its family` };
  const bytes = V2_FIXED_BYTES + length;
  if (buf.length < bytes) return { kind: 'more' };
  // LOCAL: the proxy's own connection (a health check): the peer is itself, and the
  // rest of the block, TLVs included, is discarded unread (§2.2).
  if (command === 0) return { kind: 'header', version: 2, bytes, source: null };
  const tlvs = readTlvs(buf, V2_FIXED_BYTES + need, bytes);
  if (typeof tlvs === 'string') return { kind: 'invalid', reason: `a version 2 header with ${tlvs}` };
  // UNSPEC and UNIX name no TCP client; their TLVs, read above, say nothing the router uses.
  if (family === 0 || family === 3) return { kind: 'header', version: 2, bytes, source: null };
  if (transport !== 1) return { kind: 'invalid', reason: 'a version 2 header for a datagram (or unspecified) transport on a TCP listener' };
  const at = V2_FIXED_BYTES;
  if (family === 1) {
    const address = `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
    return { kind: 'header', version: 2, bytes, source: { address, port: buf.readUInt16BE(at + 8), family: 'IPv4', isTls: tlvs.isTls } };
  }
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(at + i * 2).toString(16));
  return { kind: 'header', version: 2, bytes, source: { address: compressIpv6(groups), port: buf.readUInt16BE(at + 32), family: 'IPv6', isTls: tlvs.isTls } };
}

/**
 * What the router takes from the TLVs in buf[start, end): whether the client used
 * TLS. Every TLV must end within the header (and so must the sub-TLVs of the SSL
 * one, whose bits are believed): a TLV cut short or running past the declared
 * length is a malformed header, as in HAProxy's own reader. Other types (ALPN,
 * AUTHORITY, CRC32C, NOOP, UNIQUE_ID, NETNS, custom ones) are stepped over.
 * Returns why they are malformed, as a string.
 */
function readTlvs(buf: Buffer, start: number, end: number): { isTls: boolean } | string {
  let client: number | null = null;
  const wrong = walkTlvs(buf, start, end, (type, valueAt, length) => {
    if (type !== PP2_TYPE_SSL) return null;
    // Two could say different things; neither is believed.
    if (client !== null) return 'two SSL TLVs';
    if (length < SSL_FIXED_BYTES) return `an SSL TLV of ${length} bytes, fewer than its ${SSL_FIXED_BYTES} fixed ones`;
    const sub = walkTlvs(buf, valueAt + SSL_FIXED_BYTES, valueAt + length, () => null);
    if (sub !== null) return `${sub} inside its SSL TLV`;
    client = buf[valueAt]!;
    return null;
  });
  if (wrong !== null) return wrong;
  return { isTls: client !== null && (client & PP2_CLIENT_SSL) !== 0 };
}

/** Calls `visit` for each TLV in buf[start, end); returns why they are malformed (or what `visit` said), or null. */
function walkTlvs(buf: Buffer, start: number, end: number, visit: (type: number, valueAt: number, length: number) => string | null): string | null {
  for (let at = start; at < end; ) {
    if (end - at < TLV_HEAD_BYTES) return `a TLV cut short: ${end - at} byte(s) left where a TLV needs ${TLV_HEAD_BYTES}`;
    const type = buf[at]!;
    const length = buf.readUInt16BE(at + 1);
    const valueAt = at + TLV_HEAD_BYTES;
    if (valueAt + length > end) return `a TLV (type 0x${type.toString(16).padStart(2, '0')}) of ${length} bytes, ${valueAt + length - end} more than are left`;
    const wrong = visit(type, valueAt, length);
    if (wrong !== null) return wrong;
    at = valueAt + length;
  }
  return null;
}

/** The eight groups as node writes an IPv6 peer (RFC 5952: the longest run of zero groups as "::"); IPv4-mapped ones as ::ffff:a.b.c.d. */
function compressIpv6(groups: string[]): string {
  if (groups.slice(0, 5).every((g) => g === '0') && groups[5] === 'ffff') {
    const hi = parseInt(groups[6]!, 16);
    const lo = parseInt(groups[7]!, 16);
    return `::ffff:${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLength && j - i > 1) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLength).join(':')}`;
}
