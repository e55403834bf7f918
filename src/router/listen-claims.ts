// Which listener gets an address that a table names more than once (a staging
// `listen:` equal to production's). Only one can have it; the others are reported as
// their environment's error while every other listener opens as usual: one bad
// environment never blocks another's routes.
//
// The listener already serving on the address keeps it, so a newcomer can never
// take production's front door; with none serving (a router just started), the
// first in table order wins.

import { listenersOverlap } from '../core/listen-overlap.ts';
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

/** Whether two listen addresses cannot both be bound (core's listenersOverlap, on the route table's text form). */
export function addressesClash(a: string, b: string): boolean {
  return listenersOverlap({ host: listenHost(a), port: listenPort(a) }, { host: listenHost(b), port: listenPort(b) });
}
