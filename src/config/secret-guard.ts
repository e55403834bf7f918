// The hard-coded secret guard: plain config values in slipway.yaml that look like
// secrets (by their name, or by looking random) are reported by `slipway validate`
// as warnings, errors with --strict. Heuristics, tuned to miss little and to stay
// quiet on paths, URLs without passwords, versions and UUIDs. A warning never
// repeats the value.

import type { ServiceConfig } from '../core/service-config.ts';
import type { PathIssue } from './path-issue.ts';

const SECRET_WORDS = ['PASSWORD', 'PASSWD', 'PASS', 'PWD', 'SECRET', 'TOKEN', 'KEY', 'APIKEY', 'CREDENTIAL', 'CREDENTIALS', 'PRIVATE'];

/** Why a variable's name says it holds a secret, or null. */
export function secretLikeName(name: string): string | null {
  const words = name.toUpperCase().split('_').filter(Boolean);
  const last = words.at(-1);
  if (last !== undefined && SECRET_WORDS.includes(last)) return words.length > 1 ? `its name ends in _${last}` : `its name is ${last}`;
  if (words[0] === 'SECRET') return 'its name starts with SECRET_';
  return null;
}

const KNOWN_TOKEN_SHAPES: [RegExp, string][] = [
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'it holds a private key'],
  [/^(?:AKIA|ASIA)[0-9A-Z]{16}$/, 'it has the shape of an AWS access key id'],
  [/^(?:ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{20,}$/, 'it has the shape of a GitHub token'],
  [/^(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}$/, 'it has the shape of a Stripe key'],
  [/^xox[abposr]-[A-Za-z0-9-]{10,}$/, 'it has the shape of a Slack token'],
  [/^eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}$/, 'it has the shape of a JSON Web Token'],
];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Shannon entropy in bits per character. */
export function entropyBitsPerChar(s: string): number {
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  const n = [...s].length;
  let bits = 0;
  for (const c of counts.values()) bits -= (c / n) * Math.log2(c / n);
  return bits;
}

/** Why a value looks like a secret, or null. */
export function secretLikeValue(value: string): string | null {
  for (const [shape, reason] of KNOWN_TOKEN_SHAPES) if (shape.test(value)) return reason;
  if (/^[a-z][a-z0-9+.-]*:\/\/[^/@\s:]*:[^/@\s]+@/i.test(value)) return 'it is a URL with a password in it';
  // Generated secrets are long runs of token characters mixing letters and digits.
  if (value.length < 20 || !/^[A-Za-z0-9+/=_.~-]+$/.test(value) || UUID.test(value)) return null;
  // Names people make (release-2024-01-15-build-3) are words and numbers apart;
  // generated ones mix letters and digits within a long run.
  if (!value.split(/[-_.~]+/).some((part) => part.length >= 8 && /[A-Za-z]/.test(part) && /[0-9]/.test(part))) return null;
  const bits = entropyBitsPerChar(value);
  return bits >= 3.5 ? `it looks random (${bits.toFixed(1)} bits of entropy per character)` : null;
}

export interface SecretLikeValue {
  env: string;
  key: string;
  reason: string;
}

export function findSecretLikeValues(config: ServiceConfig): SecretLikeValue[] {
  const found: SecretLikeValue[] = [];
  for (const [env, spec] of Object.entries(config.environments)) {
    for (const [key, value] of Object.entries(spec.config)) {
      const reason = secretLikeName(key) ?? secretLikeValue(value);
      if (reason !== null) found.push({ env, key, reason });
    }
  }
  return found;
}

/** The guard's findings as issues at each key, pointing to the command that stores a secret properly. */
export function secretGuardIssues(config: ServiceConfig): PathIssue[] {
  return findSecretLikeValues(config).map(({ env, key, reason }) => ({
    path: ['environments', env, 'config', key],
    at: 'key',
    message: `looks like a secret (${reason}); keep secrets out of slipway.yaml: remove it here and run \`slipway secret set ${env} ${key}\` (the value is read from stdin)`,
  }));
}
