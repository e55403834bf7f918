// The server's Ed25519 signing key: it signs artefact manifests (and, later, audit
// checkpoints). Loaded from keys/signing.key in the data directory, created there
// (mode 0600) the first time a server starts without one. The private key never
// leaves this module: callers get sign/verify and the public key.

import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, createHash, type KeyObject } from 'node:crypto';
import { closeSync, existsSync, fchmodSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { SlipwayError } from '../core/errors.ts';

export interface SigningKey {
  /** A public name of the key: the first 16 hex digits of sha256 of its public key (DER). */
  readonly keyId: string;
  /** The public key as PEM (SPKI), to verify signatures elsewhere. */
  readonly publicKeyPem: string;
  /** Ed25519 signature of `data`, base64. */
  sign(data: Buffer | string): string;
  /** True when `signature` (base64) is this key's signature of `data`. Never throws on bad input. */
  verify(data: Buffer | string, signature: string): boolean;
}

export interface LoadedSigningKey {
  key: SigningKey;
  created: boolean;
  /** Something the operator should hear about (a key file others can read). */
  warning: string | null;
}

/** Loads the key file, or creates it (0600, parent 0700) when there is none. */
export function loadOrCreateSigningKey(keyFile: string): LoadedSigningKey {
  if (existsSync(keyFile)) {
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(readFileSync(keyFile, 'utf8'));
    } catch (e) {
      throw new SlipwayError('E_SECRET_KEY', `${keyFile} does not hold an Ed25519 private key (PEM); restore it from a backup, or move it away to make a new one (signatures made with the old key will no longer verify)`, { keyFile }, { cause: e });
    }
    if (privateKey.asymmetricKeyType !== 'ed25519') {
      throw new SlipwayError('E_SECRET_KEY', `${keyFile} holds a ${privateKey.asymmetricKeyType ?? 'non-Ed25519'} key; slipway signs with Ed25519`, { keyFile });
    }
    const mode = statSync(keyFile).mode & 0o777;
    const warning = (mode & 0o077) !== 0 ? `${keyFile} can be read by other users (mode ${mode.toString(8)}); chmod 600 it` : null;
    return { key: signingKeyFrom(privateKey), created: false, warning };
  }
  mkdirSync(dirname(keyFile), { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  // 'wx': two servers racing cannot both create it; the loser reads the winner's.
  let fd: number;
  try {
    fd = openSync(keyFile, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateSigningKey(keyFile);
    throw e;
  }
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, pem);
  } finally {
    closeSync(fd);
  }
  return { key: signingKeyFrom(privateKey), created: true, warning: null };
}

export function signingKeyFrom(privateKey: KeyObject): SigningKey {
  const publicKey = createPublicKey(privateKey);
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return {
    keyId: createHash('sha256').update(der).digest('hex').slice(0, 16),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    sign: (data) => sign(null, Buffer.from(data), privateKey).toString('base64'),
    verify: (data, signature) => verifyWith(publicKey, data, signature),
  };
}

/** Verifies with a public key given as PEM (e.g. one published by another server). */
export function verifySignature(publicKeyPem: string, data: Buffer | string, signature: string): boolean {
  try {
    return verifyWith(createPublicKey(publicKeyPem), data, signature);
  } catch {
    return false;
  }
}

function verifyWith(publicKey: KeyObject, data: Buffer | string, signature: string): boolean {
  if (typeof signature !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(signature)) return false;
  const sig = Buffer.from(signature, 'base64');
  if (sig.length !== 64) return false;
  try {
    return verify(null, Buffer.from(data), publicKey, sig);
  } catch {
    return false;
  }
}
