// The parity report between two environments (`slipway config diff staging
// production`): which keys are the same, differ, or exist on one side only.
// Secrets are compared by keyed fingerprint, or by reference when slipway does not
// hold the value; their values never appear.

import type { ConfigEntry } from './config-view.ts';

export type ParityStatus = 'same' | 'differs' | 'only-left' | 'only-right';

export interface ParityRow {
  key: string;
  status: ParityStatus;
  /** plain, secret, or mixed (plain on one side, secret on the other). */
  kind: 'plain' | 'secret' | 'mixed';
  /** What each side has, for display: a plain value, or "secret (store v2)"; null when absent. */
  left: string | null;
  right: string | null;
}

function display(e: ConfigEntry | undefined): string | null {
  if (!e) return null;
  return e.kind === 'plain' ? e.value : `secret (${e.reference})`;
}

function isSame(a: ConfigEntry, b: ConfigEntry): boolean {
  if (a.kind === 'plain' && b.kind === 'plain') return a.value === b.value;
  if (a.kind === 'secret' && b.kind === 'secret') {
    if (a.fingerprint !== null && b.fingerprint !== null) return a.fingerprint === b.fingerprint;
    // Without both values known, only the very same external reference counts as equal.
    return a.fingerprint === null && b.fingerprint === null && a.reference === b.reference;
  }
  return false;
}

export function parityReport(left: ConfigEntry[], right: ConfigEntry[]): ParityRow[] {
  const l = new Map(left.map((e) => [e.key, e]));
  const r = new Map(right.map((e) => [e.key, e]));
  const keys = [...new Set([...l.keys(), ...r.keys()])].sort();
  return keys.map((key) => {
    const a = l.get(key);
    const b = r.get(key);
    const kind = a && b && a.kind !== b.kind ? 'mixed' : (a ?? b)!.kind;
    const status: ParityStatus = !a ? 'only-right' : !b ? 'only-left' : isSame(a, b) ? 'same' : 'differs';
    return { key, status, kind, left: display(a), right: display(b) };
  });
}
