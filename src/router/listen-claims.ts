// Which listener serves whom when a table names one address more than once. Only
// one environment can have an address, unless every environment naming it names
// hosts: too; then they share one listener, split by host and path, as long as no
// two claim one host with one path prefix there (core/listen-overlap.ts, the rule
// the engine and config apply too). Whoever cannot have what it asked for is
// reported as its environment's error while every other listener opens as usual:
// one bad environment never blocks another's routes.
//
// What a listener already serves keeps it, so a newcomer can never take
// production's front door or its host; with none serving (a router just started),
// the first in table order wins.

import { findListenClash, listenerIdentity, type ListenClash, type ListenerUse } from '../core/listen-overlap.ts';
import { listenHost, listenPort } from './route-table.ts';

/** One listener a table asks for: an environment's, or its preview listener (never shared). */
export interface ListenerWant {
  /** The environment, or `<env>:preview`. */
  key: string;
  listen: string;
  hosts?: readonly string[];
  pathPrefix?: string;
}

export interface ListenClaims {
  /** listener id (listenerIdOf) → the address to bind and the keys it serves. */
  granted: Map<string, { listen: string; keys: string[] }>;
  /** key → the address it wanted, who has it (or the host on it) and how they clash. */
  refused: Map<string, { listen: string; heldBy: string; clash: ListenClash }>;
}

/**
 * @param wanted every listener the table asks for, in table order
 * @param serving key → the listener id it is served on now, for listeners open now
 */
export function claimListenAddresses(wanted: readonly ListenerWant[], serving: ReadonlyMap<string, string>): ListenClaims {
  const granted = new Map<string, { listen: string; keys: string[] }>();
  const refused = new Map<string, { listen: string; heldBy: string; clash: ListenClash }>();
  const isServed = (w: ListenerWant) => serving.get(w.key) === listenerIdOf(w);
  const holders: ListenerWant[] = [];
  for (const want of [...wanted.filter(isServed), ...wanted.filter((w) => !isServed(w))]) {
    const held = firstClash(want, holders);
    if (held !== null) {
      refused.set(want.key, { listen: want.listen, ...held });
      continue;
    }
    holders.push(want);
    const id = listenerIdOf(want);
    const group = granted.get(id);
    if (group === undefined) granted.set(id, { listen: want.listen, keys: [want.key] });
    else group.keys.push(want.key);
  }
  return { granted, refused };
}

function firstClash(want: ListenerWant, holders: readonly ListenerWant[]): { heldBy: string; clash: ListenClash } | null {
  const use = useOf(want);
  for (const h of holders) {
    const clash = findListenClash(use, useOf(h));
    if (clash !== null) return { heldBy: h.key, clash };
  }
  return null;
}

/** The listener a want is served on: one per address (canonical), one per want for port 0. */
export function listenerIdOf(w: Pick<ListenerWant, 'key' | 'listen'>): string {
  return listenerIdentity(addressOf(w.listen)) ?? `${w.listen}#${w.key}`;
}

/** Whether two listen addresses cannot both be bound (core's rule, on the route table's text form, neither routed by host). */
export function addressesClash(a: string, b: string): boolean {
  return findListenClash({ address: addressOf(a) }, { address: addressOf(b) }) !== null;
}

function useOf(w: ListenerWant): ListenerUse {
  return { address: addressOf(w.listen), ...(w.hosts ? { hosts: w.hosts } : {}), ...(w.pathPrefix ? { pathPrefix: w.pathPrefix } : {}) };
}

function addressOf(listen: string) {
  return { host: listenHost(listen), port: listenPort(listen) };
}
