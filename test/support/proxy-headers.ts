// PROXY protocol version 2 headers written by hand, for tests that play a load
// balancer from a raw socket (a real HAProxy is test/support/haproxy.ts).

/** A version 2 PROXY header (TCP4, PROXY command) naming `client`, followed by `tlvs`. */
export function v2Header(client: number[], tlvs: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.concat([Buffer.from('0d0a0d0a000d0a515549540a', 'hex'), Buffer.from([0x21, 0x11, 0, 0])]);
  head.writeUInt16BE(12 + tlvs.length, 14);
  const addresses = Buffer.from([...client, 127, 0, 0, 1, 0x9c, 0x40, 0, 80]);
  return Buffer.concat([head, addresses, tlvs]);
}

/** PP2_TYPE_SSL with PP2_CLIENT_SSL (client byte, 4-byte verify), as send-proxy-v2-ssl writes it for a TLS client. */
export const SSL_TLV = Buffer.from([0x20, 0x00, 0x05, 0x01, 0, 0, 0, 0]);
