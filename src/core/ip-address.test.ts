import { describe, expect, it } from 'vitest';
import { addressKind, canonicalAddress } from './ip-address.ts';

describe('addressKind', () => {
  it.each([
    ['0.0.0.0', 'unspecified'], ['127.1.2.3', 'loopback'], ['10.20.30.40', 'private'],
    ['172.15.0.1', 'public'], ['172.16.0.1', 'private'], ['172.31.255.255', 'private'], ['172.32.0.1', 'public'], ['173.16.0.1', 'public'],
    ['192.168.1.1', 'private'], ['192.169.1.1', 'public'], ['193.168.1.1', 'public'],
    ['100.63.0.1', 'public'], ['100.64.0.1', 'private'], ['100.127.0.1', 'private'], ['100.128.0.1', 'public'], ['101.64.0.1', 'public'],
    ['169.254.0.1', 'link-local'], ['169.253.0.1', 'public'], ['170.254.0.1', 'public'],
    ['223.255.255.255', 'public'], ['224.0.0.1', 'multicast'], ['239.255.255.255', 'multicast'], ['240.0.0.1', 'reserved'], ['255.255.255.255', 'reserved'],
  ] as const)('IPv4 %s is %s', (ip, kind) => expect(addressKind(ip)).toBe(kind));

  it.each([
    ['::', 'unspecified'], ['::1', 'loopback'], ['[::1]', 'loopback'], ['0:0:0:0:0:0:0:1', 'loopback'],
    ['fc00::1', 'private'], ['fdff::1', 'private'], ['fe00::1', 'public'],
    ['fe80::1', 'link-local'], ['febf::1', 'link-local'], ['fec0::1', 'public'], ['fe80::1%eth0', 'link-local'],
    ['ff02::1', 'multicast'], ['fe02::1', 'public'], ['2001:db8::1', 'public'], ['A::1', 'public'], ['1:2:3:4:5:6:7:8', 'public'], ['1:2:3:4:5:6:7::', 'public'],
    ['::ffff:127.0.0.1', 'loopback'], ['::ffff:192.168.10.20', 'private'], ['::ffff:7f00:1', 'loopback'], ['::ffff:8.8.8.8', 'public'],
    ['::10.20.30.40', 'private'], ['::0.0.0.2', 'unspecified'], ['1::10.20.30.40', 'public'], ['0:0:0:0:1::1', 'public'], ['::1:0:1', 'public'],
  ] as const)('IPv6 %s is %s', (ip, kind) => expect(addressKind(ip)).toBe(kind));

  it.each([
    'example.com', '1.2.3', '1.2.3.4.5', '1.2.3.256', '1.2.3.999', '1.2.3. 4', '1.2.3.4 ', '1.2.3.1234',
    '1::2::3', '1:2:3:4:5:6:7', '1:2:3:4::5:6:7:8', '1:2:3:4:5:6:7:8:9', '12345::1', '1:2:3:4:5:6:7:zz', '::ffff:1.2.3.999', '::ffff:1.2.3', 'a:b',
  ])('%s is not an IP address', (text) => expect(addressKind(text)).toBeNull());
});

describe('canonicalAddress', () => {
  it.each([
    ['1.2.3.4', '1.2.3.4'], ['001.002.003.004', '1.2.3.4'], ['::ffff:7f00:1', '127.0.0.1'], ['::FFFF:127.0.0.1', '127.0.0.1'],
    ['0:0::1', '0:0:0:0:0:0:0:1'], ['[::1]', '0:0:0:0:0:0:0:1'], ['FE80::A', 'fe80:0:0:0:0:0:0:a'], ['1::ffff:7f00:1', '1:0:0:0:0:ffff:7f00:1'],
    ['0:0:0:0:1:ffff:7f00:1', '0:0:0:0:1:ffff:7f00:1'], ['ExAmple.COM', 'example.com'],
  ])('%s is written %s', (text, canonical) => expect(canonicalAddress(text)).toBe(canonical));
});
