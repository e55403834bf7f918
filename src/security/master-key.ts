// The master key that encrypts every stored secret: from SLIPWAY_MASTER_KEY, or
// from keys/master.key in the data directory, created (mode 0600) the first time a
// server starts with neither. It is never printed, logged or put in an error.

import { closeSync, existsSync, fchmodSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { hkdfSync, randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { SlipwayError } from '../core/errors.ts';

export const MASTER_KEY_ENV = 'SLIPWAY_MASTER_KEY';
const KEY_BYTES = 32;

/** The keys derived from the master key; each use gets its own, so none can stand in for another. */
export interface MasterKey {
  /** AES-256-GCM key of the stored secrets. */
  encryptionKey: Buffer;
  /** HMAC-SHA256 key of secret fingerprints (equal values compare equal without being revealed). */
  fingerprintKey: Buffer;
  /** A public name of the key (16 hex digits), recorded with each secret: tells a wrong key from a tampered secret. */
  id: string;
  /** Where it came from, for messages: "SLIPWAY_MASTER_KEY" or the key file's path. */
  source: string;
}

function derive(master: Buffer, info: string, bytes: number): Buffer {
  return Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), `slipway ${info} v1`, bytes));
}

export function deriveMasterKey(master: Buffer, source: string): MasterKey {
  return {
    encryptionKey: derive(master, 'secret encryption', 32),
    fingerprintKey: derive(master, 'secret fingerprint', 32),
    id: derive(master, 'key id', 8).toString('hex'),
    source,
  };
}

/** 32 bytes written as 64 hex digits or as base64 (standard or URL alphabet). The text itself never appears in the error. */
export function parseMasterKeyText(text: string, source: string): Buffer {
  const t = text.trim();
  let key: Buffer | null = null;
  if (/^[0-9a-fA-F]{64}$/.test(t)) key = Buffer.from(t, 'hex');
  else if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(t)) {
    const b = Buffer.from(t, 'base64');
    if (b.length === KEY_BYTES) key = b;
  }
  if (key === null) {
    throw new SlipwayError(
      'E_SECRET_KEY',
      `${source} does not hold a master key: expected 32 bytes written as 64 hex digits or as base64 (44 characters), e.g. the output of \`openssl rand -base64 32\`; it holds ${t.length} characters`,
      { source },
    );
  }
  return key;
}

export interface LoadMasterKeyOptions {
  /** The value of SLIPWAY_MASTER_KEY, if set: it wins over the key file. */
  envValue: string | undefined;
  keyFile: string;
  /**
   * The id of the key the stored secrets were encrypted with (null: none stored yet).
   * A key file is created only when nothing is stored, so a lost key is an error,
   * not a fresh key that silently cannot read the old secrets.
   */
  expectedKeyId: string | null;
}

export interface LoadedMasterKey {
  key: MasterKey;
  created: boolean;
  /** Something the operator should hear about (a key file others can read). */
  warning: string | null;
}

export function loadMasterKey(o: LoadMasterKeyOptions): LoadedMasterKey {
  let loaded: LoadedMasterKey;
  if (o.envValue !== undefined && o.envValue !== '') {
    loaded = { key: deriveMasterKey(parseMasterKeyText(o.envValue, MASTER_KEY_ENV), MASTER_KEY_ENV), created: false, warning: null };
  } else if (existsSync(o.keyFile)) {
    const mode = statSync(o.keyFile).mode & 0o777;
    const warning = mode & 0o077 ? `${o.keyFile} can be read by other users (mode ${mode.toString(8)}); chmod 600 it` : null;
    loaded = { key: deriveMasterKey(parseMasterKeyText(readFileSync(o.keyFile, 'utf8'), o.keyFile), o.keyFile), created: false, warning };
  } else if (o.expectedKeyId !== null) {
    throw new SlipwayError(
      'E_SECRET_KEY',
      `state.db holds secrets encrypted with master key ${o.expectedKeyId}, but there is no key: ${MASTER_KEY_ENV} is not set and ${o.keyFile} does not exist; restore that file or set ${MASTER_KEY_ENV} to the key`,
      { keyId: o.expectedKeyId },
    );
  } else {
    loaded = { key: deriveMasterKey(createKeyFile(o.keyFile), o.keyFile), created: true, warning: null };
  }
  if (o.expectedKeyId !== null && loaded.key.id !== o.expectedKeyId) {
    throw new SlipwayError(
      'E_SECRET_KEY',
      `the master key from ${loaded.key.source} (id ${loaded.key.id}) is not the one the stored secrets were encrypted with (id ${o.expectedKeyId}); start the server with that key`,
      { keyId: loaded.key.id, expectedKeyId: o.expectedKeyId },
    );
  }
  return loaded;
}

function createKeyFile(path: string): Buffer {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const key = randomBytes(KEY_BYTES);
  // 'wx': never overwrite a key that appeared meanwhile; the mode is set again in
  // case the umask took bits away, never added.
  const fd = openSync(path, 'wx', 0o600);
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, `${key.toString('base64')}\n`);
  } finally {
    closeSync(fd);
  }
  return key;
}
