import { describe, expect, it } from 'vitest';
import { PP2_CLIENT_SSL, PP2_TYPE_SSL, readProxyHeader, V1_MAX_BYTES, V2_SIGNATURE } from './proxy-protocol.ts';

const text = (s: string) => Buffer.from(s, 'latin1');

/** A version 2 header: version/command byte, family/transport byte, then the address block (and TLVs). */
function v2(verCmd: number, famTransport: number, rest: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(rest.length);
  return Buffer.concat([V2_SIGNATURE, Buffer.from([verCmd, famTransport]), len, rest]);
}

function inet4(src: number[], dst: number[], sport: number, dport: number): Buffer {
  const b = Buffer.alloc(12);
  Buffer.from(src).copy(b, 0);
  Buffer.from(dst).copy(b, 4);
  b.writeUInt16BE(sport, 8);
  b.writeUInt16BE(dport, 10);
  return b;
}

/** A TLV: type byte, 2-byte length, value. */
function tlv(type: number, value: Buffer | string): Buffer {
  const v = typeof value === 'string' ? text(value) : value;
  const head = Buffer.from([type, 0, 0]);
  head.writeUInt16BE(v.length, 1);
  return Buffer.concat([head, v]);
}

/** PP2_TYPE_SSL as HAProxy's send-proxy-v2-ssl writes it: the client byte, verify 0, then a PP2_SUBTYPE_SSL_VERSION sub-TLV. */
function sslTlv(client: number, subTlvs: Buffer = tlv(0x21, 'TLSv1.3')): Buffer {
  return tlv(PP2_TYPE_SSL, Buffer.concat([Buffer.from([client, 0, 0, 0, 0]), subTlvs]));
}

function inet6(src: number[], dst: number[], sport: number, dport: number): Buffer {
  const b = Buffer.alloc(36);
  src.forEach((g, i) => b.writeUInt16BE(g, i * 2));
  dst.forEach((g, i) => b.writeUInt16BE(g, 16 + i * 2));
  b.writeUInt16BE(sport, 32);
  b.writeUInt16BE(dport, 34);
  return b;
}

describe('PROXY protocol version 1', () => {
  it('reads a TCP4 and a TCP6 header and says how many bytes it took', () => {
    const line = 'PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\n';
    expect(readProxyHeader(text(`${line}GET / HTTP/1.1\r\n`), 'v1')).toEqual({ kind: 'header', version: 1, bytes: line.length, source: { address: '203.0.113.7', port: 56324, family: 'IPv4', isTls: false } });
    expect(readProxyHeader(text('PROXY TCP6 2001:db8::7 2001:db8::1 65535 0\r\n'), 'any')).toMatchObject({ kind: 'header', source: { address: '2001:db8::7', port: 65535, family: 'IPv6' } });
  });

  it('takes a line of exactly 107 bytes and refuses one of 108', () => {
    const pad = (n: number) => `PROXY UNKNOWN ${'x'.repeat(n - 'PROXY UNKNOWN \r\n'.length)}\r\n`;
    expect(readProxyHeader(text(pad(107)), 'v1')).toMatchObject({ kind: 'header', bytes: 107 });
    expect(readProxyHeader(text(pad(108)), 'v1')).toMatchObject({ kind: 'invalid', reason: expect.stringContaining('longer than 107 bytes') });
  });

  it('reads UNKNOWN (whatever follows it on the line) as naming no client', () => {
    expect(readProxyHeader(text('PROXY UNKNOWN\r\n'), 'v1')).toEqual({ kind: 'header', version: 1, bytes: 15, source: null });
    expect(readProxyHeader(text('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n'), 'v1')).toMatchObject({ kind: 'header', source: null });
  });

  it('asks for more bytes until the line ends, however it is split', () => {
    const line = text('PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\n');
    for (let n = 0; n < line.length; n++) expect(readProxyHeader(line.subarray(0, n), 'any').kind, `after ${n} bytes`).toBe('more');
    expect(readProxyHeader(line, 'any').kind).toBe('header');
  });

  it('says none as soon as the bytes cannot begin a header: a client that connected directly', () => {
    expect(readProxyHeader(text('GET / HTTP/1.1\r\n'), 'v1')).toEqual({ kind: 'none' });
    expect(readProxyHeader(text('POST'), 'any')).toEqual({ kind: 'none' });
    expect(readProxyHeader(text('PROXZ'), 'any')).toEqual({ kind: 'none' });
    // A TLS ClientHello starts with a handshake record (0x16).
    expect(readProxyHeader(Buffer.from([0x16, 0x03, 0x01]), 'any')).toEqual({ kind: 'none' });
  });

  it.each([
    ['no CRLF within 107 bytes', `PROXY TCP4 ${'1'.repeat(V1_MAX_BYTES)}`, 'longer than 107 bytes'],
    ['a LF alone', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n', 'not printable ASCII'],
    ['CR then something else', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX', 'CR not followed by LF'],
    ['a NUL byte', 'PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n', 'not printable ASCII'],
    ['another protocol', 'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n', 'protocol "UDP4"'],
    ['lower case', 'PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n', 'protocol "tcp4"'],
    ['a field missing', 'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n', 'is not "PROXY TCP4|TCP6'],
    ['two spaces', 'PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n', 'is not "PROXY TCP4|TCP6'],
    ['an IPv6 address in TCP4', 'PROXY TCP4 ::1 5.6.7.8 1 2\r\n', 'not IPv4'],
    ['an IPv4 address in TCP6', 'PROXY TCP6 1.2.3.4 ::1 1 2\r\n', 'not IPv6'],
    ['an address out of range', 'PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n', 'not IPv4'],
    ['a host name', 'PROXY TCP4 lb.example 5.6.7.8 1 2\r\n', 'not IPv4'],
    ['a port over 65535', 'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n', 'port'],
    ['a port with a leading zero', 'PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n', 'port'],
    ['a negative port', 'PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n', 'port'],
  ])('refuses %s', (_, header, reason) => {
    const r = readProxyHeader(text(header), 'any');
    expect(r.kind).toBe('invalid');
    expect(r.kind === 'invalid' && r.reason).toContain(reason);
  });

  it('refuses a version 1 header on a listener that reads version 2 only', () => {
    expect(readProxyHeader(text('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n'), 'v2')).toMatchObject({ kind: 'invalid', reason: expect.stringContaining('version 2 only') });
  });
});

describe('PROXY protocol version 2', () => {
  it('reads a PROXY command over TCP4 and TCP6, skipping TLVs', () => {
    const tlv = Buffer.from([0x04, 0x00, 0x03, 0x61, 0x62, 0x63]); // PP2_TYPE_NOOP with 3 bytes
    const h4 = v2(0x21, 0x11, Buffer.concat([inet4([198, 51, 100, 9], [10, 0, 0, 1], 40000, 443), tlv]));
    expect(readProxyHeader(Buffer.concat([h4, text('GET /')]), 'v2')).toEqual({ kind: 'header', version: 2, bytes: h4.length, source: { address: '198.51.100.9', port: 40000, family: 'IPv4', isTls: false } });
    const h6 = v2(0x21, 0x21, inet6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 7], [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], 1234, 443));
    expect(readProxyHeader(h6, 'any')).toMatchObject({ kind: 'header', source: { address: '2001:db8::7', port: 1234, family: 'IPv6' } });
    const mapped = v2(0x21, 0x21, inet6([0, 0, 0, 0, 0, 0xffff, 0xc633, 0x6409], [0, 0, 0, 0, 0, 0, 0, 1], 1, 2));
    expect(readProxyHeader(mapped, 'any')).toMatchObject({ source: { address: '::ffff:198.51.100.9' } });
    const noZeroRun = v2(0x21, 0x21, inet6([1, 2, 3, 4, 5, 6, 7, 8], [0, 0, 0, 0, 0, 0, 0, 1], 1, 2));
    expect(readProxyHeader(noZeroRun, 'any')).toMatchObject({ source: { address: '1:2:3:4:5:6:7:8' } });
  });

  it('reads LOCAL, UNSPEC and UNIX as naming no client (the connection\'s own peer stands)', () => {
    expect(readProxyHeader(v2(0x20, 0x00, Buffer.alloc(0)), 'v2')).toEqual({ kind: 'header', version: 2, bytes: 16, source: null });
    // LOCAL with an address block: still the peer itself.
    expect(readProxyHeader(v2(0x20, 0x11, inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)), 'v2')).toMatchObject({ kind: 'header', source: null });
    expect(readProxyHeader(v2(0x21, 0x00, Buffer.alloc(0)), 'v2')).toMatchObject({ kind: 'header', source: null });
    expect(readProxyHeader(v2(0x21, 0x31, Buffer.alloc(216)), 'v2')).toMatchObject({ kind: 'header', bytes: 232, source: null });
  });

  it('asks for more bytes until the whole header (TLVs included) is there', () => {
    const h = v2(0x21, 0x11, Buffer.concat([inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2), tlv(0x04, Buffer.alloc(37)), sslTlv(PP2_CLIENT_SSL)]));
    for (let n = 0; n < h.length; n++) expect(readProxyHeader(h.subarray(0, n), 'any').kind, `after ${n} bytes`).toBe('more');
    expect(readProxyHeader(h, 'any').kind).toBe('header');
  });

  it('says the client used TLS when an SSL TLV has PP2_CLIENT_SSL, whatever TLVs come around it', () => {
    const alpn = tlv(0x01, 'http/1.1');
    const authority = tlv(0x02, 'shop.example');
    const h4 = v2(0x21, 0x11, Buffer.concat([inet4([198, 51, 100, 9], [10, 0, 0, 1], 40000, 443), alpn, authority, sslTlv(PP2_CLIENT_SSL | 0x02 | 0x04), tlv(0x04, '')]));
    expect(readProxyHeader(h4, 'v2')).toEqual({ kind: 'header', version: 2, bytes: h4.length, source: { address: '198.51.100.9', port: 40000, family: 'IPv4', isTls: true } });
    const h6 = v2(0x21, 0x21, Buffer.concat([inet6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 7], [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], 1234, 443), sslTlv(PP2_CLIENT_SSL, Buffer.alloc(0))]));
    expect(readProxyHeader(h6, 'any')).toMatchObject({ kind: 'header', source: { address: '2001:db8::7', isTls: true } });
  });

  it.each([
    ['no TLV at all', Buffer.alloc(0)],
    ['TLVs but no SSL one', Buffer.concat([tlv(0x01, 'h2'), tlv(0x02, 'shop.example')])],
    // send-proxy-v2-ssl for a client that came in plain: the TLV is there, the bit is not.
    ['an SSL TLV without PP2_CLIENT_SSL', sslTlv(0x00, Buffer.alloc(0))],
    ['an SSL TLV with only the certificate bits', sslTlv(0x02 | 0x04, Buffer.alloc(0))],
  ])('says the client did not use TLS for %s', (_, tlvs) => {
    const h = v2(0x21, 0x11, Buffer.concat([inet4([198, 51, 100, 9], [10, 0, 0, 1], 40000, 80), tlvs]));
    expect(readProxyHeader(h, 'v2')).toMatchObject({ kind: 'header', bytes: h.length, source: { address: '198.51.100.9', isTls: false } });
  });

  it('discards a LOCAL header\'s block unread, TLVs and all, as the spec says', () => {
    const h = v2(0x20, 0x11, Buffer.concat([inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2), Buffer.from([PP2_TYPE_SSL, 0xff, 0xff])]));
    expect(readProxyHeader(h, 'v2')).toEqual({ kind: 'header', version: 2, bytes: h.length, source: null });
  });

  const addresses = inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2);
  it.each([
    ['an SSL TLV whose length runs past the header', v2(0x21, 0x11, Buffer.concat([addresses, sslTlv(PP2_CLIENT_SSL).subarray(0, 10)])), 'a TLV (type 0x20) of 15 bytes, 8 more than are left'],
    // An AUTHORITY TLV claiming 200 bytes would swallow the SSL TLV after it, and more.
    ['another TLV whose length runs past the header, over an SSL one', v2(0x21, 0x11, Buffer.concat([addresses, Buffer.from([0x02, 0x00, 200]), sslTlv(PP2_CLIENT_SSL)])), 'a TLV (type 0x02) of 200 bytes'],
    ['a TLV head cut short', v2(0x21, 0x11, Buffer.concat([addresses, sslTlv(PP2_CLIENT_SSL), Buffer.from([0x04, 0x00])])), 'a TLV cut short: 2 byte(s) left'],
    ['a TLV overrunning an UNSPEC header', v2(0x21, 0x00, Buffer.from([0x04, 0x00, 0x01])), 'more than are left'],
    ['a TLV overrunning a TCP6 header', v2(0x21, 0x21, Buffer.concat([Buffer.alloc(36), Buffer.from([0x01, 0x00, 0x09, 0x68])])), 'more than are left'],
    ['an SSL TLV too short for its client and verify fields', v2(0x21, 0x11, Buffer.concat([addresses, tlv(PP2_TYPE_SSL, Buffer.from([PP2_CLIENT_SSL, 0, 0, 0]))])), 'an SSL TLV of 4 bytes'],
    ['an SSL TLV whose sub-TLV runs past it', v2(0x21, 0x11, Buffer.concat([addresses, sslTlv(PP2_CLIENT_SSL, tlv(0x21, 'TLSv1.3').subarray(0, 6))])), 'inside its SSL TLV'],
    ['two SSL TLVs', v2(0x21, 0x11, Buffer.concat([addresses, sslTlv(0x00), sslTlv(PP2_CLIENT_SSL)])), 'two SSL TLVs'],
  ])('refuses %s', (_, header, reason) => {
    const r = readProxyHeader(header, 'any');
    expect(r.kind).toBe('invalid');
    expect(r.kind === 'invalid' && r.reason).toContain(reason);
  });

  it.each([
    ['version 1 in the version nibble', v2(0x11, 0x11, inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)), 'with version 1'],
    ['version 3', v2(0x31, 0x11, inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)), 'with version 3'],
    ['an unknown command', v2(0x22, 0x11, inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)), 'command 2'],
    ['an unknown family', v2(0x21, 0x41, Buffer.alloc(12)), 'address family byte 0x41'],
    ['an unknown transport', v2(0x21, 0x13, Buffer.alloc(12)), 'address family byte 0x13'],
    ['an address block too short for TCP4', v2(0x21, 0x11, Buffer.alloc(11)), 'too few for its family'],
    ['an address block too short for TCP6', v2(0x21, 0x21, Buffer.alloc(12)), 'too few for its family'],
    ['a datagram transport', v2(0x21, 0x12, inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)), 'datagram'],
  ])('refuses %s', (_, header, reason) => {
    const r = readProxyHeader(header, 'any');
    expect(r.kind).toBe('invalid');
    expect(r.kind === 'invalid' && r.reason).toContain(reason);
  });

  it('refuses a version 2 header on a listener that reads version 1 only, and says none for a signature broken early', () => {
    expect(readProxyHeader(v2(0x21, 0x11, inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)), 'v1')).toMatchObject({ kind: 'invalid', reason: expect.stringContaining('version 1 only') });
    const broken = Buffer.from(V2_SIGNATURE);
    broken[7] = 0x00;
    expect(readProxyHeader(broken, 'any')).toEqual({ kind: 'none' });
  });
});
