// An environment's config as people read and compare it: every variable an
// instance gets, plain or secret, with where it comes from. Secret entries carry a
// reference and a keyed fingerprint, never a value.

import type { ExternalSecretSpec } from './service-config.ts';
import type { PinnedSecret } from './records.ts';

export type ConfigSource = 'slipway.yaml' | 'cli';
export type SecretProviderName = PinnedSecret['provider'];

export interface PlainEntry {
  key: string;
  kind: 'plain';
  value: string;
  source: ConfigSource;
  /** A CLI-set value that replaces the one slipway.yaml gives. */
  overridesYaml: boolean;
}

export interface SecretEntry {
  key: string;
  kind: 'secret';
  provider: SecretProviderName;
  /** Where the value lives, for people: "store v3", "vault secret/hello/db#password". */
  reference: string;
  /** Keyed hash of the value when slipway knows it (its own store); null otherwise. */
  fingerprint: string | null;
  source: ConfigSource;
}

export type ConfigEntry = PlainEntry | SecretEntry;

export interface ConfigSources {
  yamlConfig: Record<string, string>;
  yamlSecrets: Record<string, ExternalSecretSpec>;
  /** Plain values set with `slipway config set`. */
  overrides: Record<string, string>;
  /** Secrets of slipway's own store, set with `slipway secret set`. */
  storeSecrets: Record<string, { version: number; fingerprint: string }>;
}

export interface ConfigView {
  entries: ConfigEntry[];
  /** Names that are both a plain value and a secret: a deploy refuses them until one goes. */
  conflicts: string[];
}

export function describeExternalSecret(s: ExternalSecretSpec): string {
  switch (s.provider) {
    case 'vault':
      return `vault ${s.mount}/${s.path}#${s.key}`;
    case 'file':
      return `file ${s.path}`;
    case 'env':
      return `env ${s.name}`;
  }
}

export function describePinnedSecret(p: PinnedSecret): string {
  switch (p.provider) {
    case 'store':
      return `store v${p.version}`;
    case 'vault':
      return `vault ${p.mount}/${p.path}#${p.key} v${p.version}`;
    case 'file':
      return `file ${p.path}`;
    case 'env':
      return `env ${p.name}`;
  }
}

/**
 * Precedence, the same for plain values and secrets: what is set through the CLI
 * (or API) for an environment wins over what slipway.yaml says for it.
 */
export function configView(s: ConfigSources): ConfigView {
  const entries = new Map<string, ConfigEntry>();
  for (const [key, value] of Object.entries(s.yamlConfig)) entries.set(key, { key, kind: 'plain', value, source: 'slipway.yaml', overridesYaml: false });
  for (const [key, value] of Object.entries(s.overrides)) {
    entries.set(key, { key, kind: 'plain', value, source: 'cli', overridesYaml: Object.hasOwn(s.yamlConfig, key) });
  }
  const conflicts: string[] = [];
  const secrets = new Map<string, SecretEntry>();
  for (const [key, spec] of Object.entries(s.yamlSecrets)) {
    secrets.set(key, { key, kind: 'secret', provider: spec.provider, reference: describeExternalSecret(spec), fingerprint: null, source: 'slipway.yaml' });
  }
  for (const [key, v] of Object.entries(s.storeSecrets)) {
    secrets.set(key, { key, kind: 'secret', provider: 'store', reference: `store v${v.version}`, fingerprint: v.fingerprint, source: 'cli' });
  }
  for (const [key, entry] of secrets) {
    if (entries.has(key)) conflicts.push(key);
    entries.set(key, entry);
  }
  return { entries: [...entries.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)), conflicts: conflicts.sort() };
}
