// Small JSON values kept in state.db's meta table, encrypted with the master key
// as secrets are (AES-256-GCM, bound to what they are, so a row copied under
// another name fails to decrypt): ACME account keys, obtained certificates.

import type { SecretCipher } from '../../security/secret-cipher.ts';

export interface MetaStore {
  getMeta(key: string): string | null;
  setMeta(key: string, value: string): void;
}

export interface EncryptedMeta {
  get<T>(at: { env: string; name: string }): T | null;
  set(at: { env: string; name: string }, value: unknown): void;
}

export function encryptedMeta(store: MetaStore, cipher: SecretCipher): EncryptedMeta {
  const keyOf = (at: { env: string; name: string }) => `tls:${at.env}:${at.name}`;
  return {
    get<T>(at: { env: string; name: string }): T | null {
      const text = store.getMeta(keyOf(at));
      if (text === null) return null;
      const { keyId, blob } = JSON.parse(text) as { keyId: string; blob: string };
      return JSON.parse(cipher.decrypt(Buffer.from(blob, 'base64'), { ...at, version: 1 }, keyId)) as T;
    },
    set(at, value) {
      store.setMeta(keyOf(at), JSON.stringify({ keyId: cipher.keyId, blob: cipher.encrypt(JSON.stringify(value), { ...at, version: 1 }).toString('base64') }));
    },
  };
}
