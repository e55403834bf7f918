// The server's Ed25519 signing key: made on first start (keys/server-ed25519.pem,
// mode 0600), used to sign what must be checkable later (audit checkpoints,
// artefact manifests). The public half may be shown to anyone.

import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, createHash, type KeyObject } from 'node:crypto';
import { closeSync, existsSync, fchmodSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { SlipwayError } from '../core/errors.ts';

export interface ServerKey {
  /** 16 hex digits naming the key (from its public half). */
  id: string;
  publicKeyPem: string;
  sign(data: Buffer | string): string;
  verify(data: Buffer | string, signatureBase64: string): boolean;
}

export function loadOrCreateServerKey(file: string): ServerKey {
  let priv: KeyObject;
  if (existsSync(file)) {
    try {
      priv = createPrivateKey(readFileSync(file));
    } catch (e) {
      throw new SlipwayError('E_SECRET_KEY', `the server signing key ${file} cannot be read; restore it from a backup`, {}, { cause: e });
    }
    if (priv.asymmetricKeyType !== 'ed25519') throw new SlipwayError('E_SECRET_KEY', `the server signing key ${file} is not an Ed25519 key`);
  } else {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    priv = generateKeyPairSync('ed25519').privateKey;
    const tmp = `${file}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      fchmodSync(fd, 0o600);
      writeSync(fd, priv.export({ type: 'pkcs8', format: 'pem' }) as string);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  }
  const pub = createPublicKey(priv);
  return serverKeyOf(priv, pub);
}

function serverKeyOf(priv: KeyObject | null, pub: KeyObject): ServerKey {
  const der = pub.export({ type: 'spki', format: 'der' });
  return {
    id: createHash('sha256').update(der).digest('hex').slice(0, 16),
    publicKeyPem: pub.export({ type: 'spki', format: 'pem' }) as string,
    sign(data) {
      if (!priv) throw new SlipwayError('E_INTERNAL', 'a public key cannot sign');
      return sign(null, Buffer.from(data), priv).toString('base64');
    },
    verify(data, signature) {
      try {
        return verify(null, Buffer.from(data), pub, Buffer.from(signature, 'base64'));
      } catch {
        return false;
      }
    },
  };
}

/** A verifier from a published public key (PEM). */
export function publicServerKey(pem: string): ServerKey {
  return serverKeyOf(null, createPublicKey(pem));
}
