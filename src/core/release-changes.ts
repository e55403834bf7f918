// What a new release would change against the stable one, key by key, for
// `slipway plan`. Secrets are described by reference and version, never by value.

import { describePinnedSecret } from './config-view.ts';
import { effectiveConfig, type ReleaseConfig } from './records.ts';

export interface KeyChange {
  key: string;
  change: 'added' | 'removed' | 'changed';
  kind: 'plain' | 'secret';
  /** Plain values as they are; secrets as "store v2" and the like. */
  from: string | null;
  to: string | null;
}

/** The sections of a release's settings, other than config and secrets, that a deploy may change. */
const SETTINGS: { name: string; of: (c: ReleaseConfig) => unknown }[] = [
  { name: 'run', of: (c) => c.run },
  { name: 'health', of: (c) => c.health },
  { name: 'shutdown', of: (c) => c.shutdown },
  { name: 'listen', of: (c) => c.environment.listen },
  { name: 'analysis', of: (c) => c.environment.analysis },
  { name: 'watch', of: (c) => c.environment.watchMs },
  { name: 'runtime', of: (c) => c.environment.runtime },
  { name: 'resources', of: (c) => c.environment.resources },
  { name: 'proxy', of: (c) => c.environment.proxy ?? null },
  { name: 'hosts', of: (c) => c.environment.hosts ?? null },
  { name: 'path_prefix', of: (c) => c.environment.pathPrefix ?? null },
  { name: 'image', of: (c) => c.image },
];

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

export function configKeyChanges(from: ReleaseConfig | null, to: ReleaseConfig): KeyChange[] {
  const changes: KeyChange[] = [];
  const diff = (kind: 'plain', a: Record<string, string>, b: Record<string, string>) => {
    for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      const x = Object.hasOwn(a, key) ? a[key]! : null;
      const y = Object.hasOwn(b, key) ? b[key]! : null;
      if (x === y) continue;
      changes.push({ key, kind, change: x === null ? 'added' : y === null ? 'removed' : 'changed', from: x, to: y });
    }
  };
  diff('plain', from ? effectiveConfig(from) : {}, effectiveConfig(to));
  // Pins compare whole (a file's fingerprint too); people see their descriptions.
  const a = from?.secrets ?? {};
  const b = to.secrets;
  for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])]) {
    const x = a[key];
    const y = b[key];
    if (x && y && canonical(x) === canonical(y)) continue;
    const fromText = x ? describePinnedSecret(x) : null;
    let toText = y ? describePinnedSecret(y) : null;
    if (toText !== null && toText === fromText) toText = `${toText} (new value)`;
    changes.push({ key, kind: 'secret', change: !x ? 'added' : !y ? 'removed' : 'changed', from: fromText, to: toText });
  }
  return changes.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Names of the other settings that differ (run, health, shutdown, listen, analysis, watch, proxy, ...). */
export function changedSettings(from: ReleaseConfig | null, to: ReleaseConfig): string[] {
  if (from === null) return [];
  return SETTINGS.filter((s) => canonical(s.of(from)) !== canonical(s.of(to))).map((s) => s.name);
}

export { canonical as canonicalJson };
