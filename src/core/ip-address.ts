// What kind of address an IP literal is (loopback, private, link-local, ...), for
// the admin's policy on the URLs a slipway.yaml makes the server call. Written out
// by hand because core uses no node: module (node:net would tell only v4 or v6).

export type AddressKind = 'public' | 'loopback' | 'private' | 'link-local' | 'unspecified' | 'multicast' | 'reserved';

/** The four bytes of a dotted IPv4 address, or null. */
function parseIpv4(text: string): number[] | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const bytes = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : NaN));
  return bytes.every((b) => b >= 0 && b <= 255) ? bytes : null;
}

/** The eight 16-bit groups of an IPv6 address (brackets and a zone allowed), or null. */
function parseIpv6(text: string): number[] | null {
  const bare = text.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  if (!bare.includes(':')) return null;
  let head = bare;
  const tail: number[] = [];
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(bare);
  if (v4) {
    const b = parseIpv4(v4[2]!);
    if (!b) return null;
    head = v4[1]!.endsWith('::') ? v4[1]! : v4[1]!.slice(0, -1);
    tail.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
  }
  const halves = head.split('::');
  if (halves.length > 2) return null;
  const groups = (s: string) => (s === '' ? [] : s.split(':').map((g) => (/^[0-9a-f]{1,4}$/i.test(g) ? parseInt(g, 16) : NaN)));
  const left = groups(halves[0]!);
  const right = halves.length === 2 ? groups(halves[1]!) : [];
  const known = left.length + right.length + tail.length;
  if (halves.length === 1 && known !== 8) return null;
  if (halves.length === 2 && known > 7) return null;
  const all = [...left, ...Array(8 - known).fill(0), ...right, ...tail];
  return all.every((g) => Number.isInteger(g)) ? all : null;
}

function kindOfIpv4([a, b]: number[]): AddressKind {
  if (a === 0) return 'unspecified';
  if (a === 127) return 'loopback';
  if (a === 10 || (a === 172 && b! >= 16 && b! <= 31) || (a === 192 && b === 168)) return 'private';
  // Carrier-grade NAT space: not the public internet either.
  if (a === 100 && b! >= 64 && b! <= 127) return 'private';
  if (a === 169 && b === 254) return 'link-local';
  if (a! >= 224 && a! <= 239) return 'multicast';
  if (a! >= 240) return 'reserved';
  return 'public';
}

/** The kind of an IP address written as text; null when the text is not an IP address (a host name). */
export function addressKind(text: string): AddressKind | null {
  const v4 = parseIpv4(text);
  if (v4) return kindOfIpv4(v4);
  const g = parseIpv6(text);
  if (!g) return null;
  const zeroUpTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  // ::ffff:a.b.c.d and ::a.b.c.d carry an IPv4 address, which decides.
  if (zeroUpTo(5) && (g[5] === 0xffff || (g[5] === 0 && (g[6]! !== 0 || g[7]! > 1)))) {
    return kindOfIpv4([g[6]! >> 8, g[6]! & 0xff, g[7]! >> 8, g[7]! & 0xff]);
  }
  if (zeroUpTo(7) && g[7] === 0) return 'unspecified';
  if (zeroUpTo(7) && g[7] === 1) return 'loopback';
  if ((g[0]! & 0xfe00) === 0xfc00) return 'private';
  if ((g[0]! & 0xffc0) === 0xfe80) return 'link-local';
  if ((g[0]! & 0xff00) === 0xff00) return 'multicast';
  return 'public';
}

/** One canonical text per address, so that ::1 and 0:0:0:0:0:0:0:1 compare equal. */
export function canonicalAddress(text: string): string {
  const v4 = parseIpv4(text);
  if (v4) return v4.join('.');
  const g = parseIpv6(text);
  if (!g) return text.toLowerCase();
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return [g[6]! >> 8, g[6]! & 0xff, g[7]! >> 8, g[7]! & 0xff].join('.');
  return g.map((x) => x.toString(16)).join(':');
}
