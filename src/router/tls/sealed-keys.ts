// Private keys in routes.json are sealed (AES-256-GCM) with a key of the router's
// own, made once and kept in its state dir (0600, beside the admin secret, which
// changes with every router start and so cannot be used): a copy of routes.json
// alone, in a backup or a bug report, holds no private key in plain text.

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SlipwayError } from '../../core/errors.ts';
import { writeFileAtomic } from '../atomic-file.ts';

const SEAL_FILE = 'tls-seal.key';
const PREFIX = 'sealed:v1:';
const AAD = Buffer.from('slipway router routes.json private key v1');

/** The router's sealing key, made on first use. */
export async function loadSealKey(stateDir: string): Promise<Buffer> {
  const file = join(stateDir, SEAL_FILE);
  try {
    const key = Buffer.from((await readFile(file, 'utf8')).trim(), 'hex');
    if (key.length === 32) return key;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const key = randomBytes(32);
  await writeFileAtomic(file, `${key.toString('hex')}\n`, 0o600);
  return key;
}

export function sealText(text: string, key: Buffer): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(AAD);
  const body = Buffer.concat([c.update(text, 'utf8'), c.final()]);
  return PREFIX + Buffer.concat([iv, c.getAuthTag(), body]).toString('base64');
}

export function unsealText(sealed: string, key: Buffer): string {
  if (!sealed.startsWith(PREFIX)) return sealed;
  const blob = Buffer.from(sealed.slice(PREFIX.length), 'base64');
  const d = createDecipheriv('aes-256-gcm', key, blob.subarray(0, 12));
  d.setAAD(AAD);
  d.setAuthTag(blob.subarray(12, 28));
  try {
    return Buffer.concat([d.update(blob.subarray(28)), d.final()]).toString('utf8');
  } catch (e) {
    throw new SlipwayError('E_BAD_REQUEST', `a private key in routes.json cannot be unsealed with ${SEAL_FILE}; the server will push its certificates again`, {}, { cause: e });
  }
}

type RawCertificate = { key?: unknown };
type RawTable = { environments?: Record<string, { tls?: { certificates?: RawCertificate[]; alpnChallenges?: Record<string, RawCertificate> } }> };

/** A copy of a raw table (as JSON data) with each private key passed through `f`. */
export function mapTableKeys(table: unknown, f: (key: string) => string): unknown {
  const t = table as RawTable;
  if (t === null || typeof t !== 'object' || t.environments === null || typeof t.environments !== 'object') return table;
  const environments = Object.fromEntries(
    Object.entries(t.environments).map(([env, r]) => {
      const certs = r?.tls?.certificates;
      if (!Array.isArray(certs)) return [env, r];
      const mapKey = (c: RawCertificate) => (typeof c?.key === 'string' ? { ...c, key: f(c.key) } : c);
      const alpn = r.tls?.alpnChallenges;
      // TLS-ALPN-01 challenge certificates' keys too: short-lived, but private keys all the same.
      const alpnChallenges = alpn !== null && typeof alpn === 'object' ? { alpnChallenges: Object.fromEntries(Object.entries(alpn).map(([host, c]) => [host, mapKey(c)])) } : {};
      return [env, { ...r, tls: { ...r.tls, certificates: certs.map(mapKey), ...alpnChallenges } }];
    }),
  );
  return { ...t, environments };
}
