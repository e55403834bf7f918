// AES-256-GCM for stored secrets. Each ciphertext is bound (as additional
// authenticated data) to its environment, name and version, so a value copied to
// another row, say from production to staging, fails to decrypt instead of leaking.

import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { SlipwayError } from '../core/errors.ts';
import type { MasterKey } from './master-key.ts';

/** Which secret a ciphertext belongs to. */
export interface SecretContext {
  env: string;
  name: string;
  version: number;
}

const FORMAT = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

function aad(c: SecretContext): Buffer {
  return Buffer.from(`slipway secret v${FORMAT}\0${c.env}\0${c.name}\0${c.version}`, 'utf8');
}

export class SecretCipher {
  constructor(private readonly key: MasterKey) {}

  get keyId(): string {
    return this.key.id;
  }

  /** format byte | 12-byte nonce | 16-byte tag | ciphertext. A fresh random nonce each time. */
  encrypt(value: string, c: SecretContext): Buffer {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key.encryptionKey, iv);
    cipher.setAAD(aad(c));
    const body = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
    return Buffer.concat([Buffer.from([FORMAT]), iv, cipher.getAuthTag(), body]);
  }

  /** The value, or E_SECRET_KEY: never a guess, never an empty string. */
  decrypt(blob: Buffer, c: SecretContext, storedKeyId?: string): string {
    const what = `secret ${c.name} of ${c.env} (version ${c.version})`;
    if (storedKeyId !== undefined && storedKeyId !== this.key.id) {
      throw new SlipwayError('E_SECRET_KEY', `${what} was encrypted with master key ${storedKeyId}, but the server has key ${this.key.id} (from ${this.key.source}); start it with the key the secret was set with`, { env: c.env, name: c.name });
    }
    if (blob.length < 1 + IV_BYTES + TAG_BYTES || blob[0] !== FORMAT) {
      throw new SlipwayError('E_SECRET_KEY', `${what} is not in a format this slipway can read; set it again`, { env: c.env, name: c.name });
    }
    const iv = blob.subarray(1, 1 + IV_BYTES);
    const tag = blob.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', this.key.encryptionKey, iv);
    decipher.setAAD(aad(c));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(blob.subarray(1 + IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch (e) {
      throw new SlipwayError(
        'E_SECRET_KEY',
        `${what} cannot be decrypted: the master key (from ${this.key.source}) is not the one it was stored with, or state.db was altered; start the server with the right key or set the secret again`,
        { env: c.env, name: c.name },
        { cause: e },
      );
    }
  }

  /** A keyed hash of a value: the same value gives the same fingerprint in every environment. */
  fingerprint(value: string): string {
    return `hmac-sha256:${createHmac('sha256', this.key.fingerprintKey).update(value, 'utf8').digest('hex')}`;
  }
}
