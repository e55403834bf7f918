// Which listener gets an address that a table names more than once (a staging
// `listen:` equal to production's). Only one can have it; the others are reported as
// their environment's error while every other listener opens as usual: one bad
// environment never blocks another's routes.
//
// The listener already serving on the address keeps it, so a newcomer can never
// take production's front door; with none serving (a router just started), the
// first in table order wins.

import { listenHost, listenPort } from './route-table.ts';

export interface ListenClaims {
  /** listener key → address: open these (or keep them open). */
  granted: Map<string, string>;
  /** listener key → the address it wanted and the listener that has it. */
  refused: Map<string, { listen: string; heldBy: string }>;
}

/**
 * @param wanted listener key → address, in table order
 * @param serving listener key → address, for the listeners open now
 */
export function claimListenAddresses(wanted: ReadonlyMap<string, string>, serving: ReadonlyMap<string, string>): ListenClaims {
  const granted = new Map<string, string>();
  const refused = new Map<string, { listen: string; heldBy: string }>();
  for (const [key, listen] of serving) {
    if (wanted.get(key) === listen) granted.set(key, listen);
  }
  for (const [key, listen] of wanted) {
    if (granted.has(key)) continue;
    const holder = [...granted].find(([, other]) => addressesClash(listen, other));
    if (holder === undefined) granted.set(key, listen);
    else refused.set(key, { listen, heldBy: holder[0] });
  }
  return { granted, refused };
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::']);

/**
 * Whether two listen addresses cannot both be bound: the same port (port 0 asks for
 * a fresh one each time) on the same host, or on any host when either is a wildcard.
 */
export function addressesClash(a: string, b: string): boolean {
  const port = listenPort(a);
  if (port === 0 || port !== listenPort(b)) return false;
  const [hostA, hostB] = [canonicalHost(listenHost(a)), canonicalHost(listenHost(b))];
  return hostA === hostB || WILDCARD_HOSTS.has(hostA) || WILDCARD_HOSTS.has(hostB);
}

function canonicalHost(host: string): string {
  const h = host.toLowerCase();
  return h === 'localhost' ? '127.0.0.1' : h;
}
