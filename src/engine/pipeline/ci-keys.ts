// CI signing keys an admin registered: Ed25519 public keys, each for some services.
// A release from CI for a service with registered keys must be signed by one of
// them (over ciSignedStatement: digest, commit, service); the run records which.
// Kept in the store's meta table as one JSON value: a handful of keys, changed rarely.

import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { SlipwayError } from '../../core/errors.ts';
import { ciSignedStatement } from '../../core/pipeline/ci-origin.ts';
import type { StateStore } from '../../store/state-store.ts';

const META_KEY = 'ci_signing_keys';

export interface CiKeyRecord {
  name: string;
  services: string[];
  publicKeyPem: string;
  /** The first 16 hex digits of sha256 of the public key (DER), as the server's own key id. */
  keyId: string;
  createdAt: number;
  createdBy: string;
}

const stored = z.array(z.strictObject({
  name: z.string(), services: z.array(z.string()), publicKeyPem: z.string(), keyId: z.string(), createdAt: z.number(), createdBy: z.string(),
}));

function ed25519(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (e) {
    throw new SlipwayError('E_BAD_REQUEST', 'publicKey: not a public key in PEM form (-----BEGIN PUBLIC KEY-----)', { field: 'publicKey' }, { cause: e });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new SlipwayError('E_BAD_REQUEST', `publicKey: a ${key.asymmetricKeyType ?? 'non-Ed25519'} key; CI keys are Ed25519 (openssl genpkey -algorithm ed25519)`, { field: 'publicKey' });
  return key;
}

export class CiKeys {
  constructor(private readonly store: StateStore, private readonly now: () => number) {}

  list(): CiKeyRecord[] {
    const text = this.store.getMeta(META_KEY);
    if (text === null) return [];
    try {
      return stored.parse(JSON.parse(text));
    } catch (e) {
      throw new SlipwayError('E_STATE_CORRUPT', 'state.db holds unreadable CI signing keys; register them again', {}, { cause: e });
    }
  }

  put(o: { name: string; services: string[]; publicKeyPem: string; by: string }): CiKeyRecord {
    const key = ed25519(o.publicKeyPem);
    const der = key.export({ type: 'spki', format: 'der' });
    const record: CiKeyRecord = {
      name: o.name, services: [...new Set(o.services)].sort(), publicKeyPem: key.export({ type: 'spki', format: 'pem' }).toString(),
      keyId: createHash('sha256').update(der).digest('hex').slice(0, 16), createdAt: this.now(), createdBy: o.by,
    };
    this.store.setMeta(META_KEY, JSON.stringify([...this.list().filter((k) => k.name !== o.name), record]));
    return record;
  }

  remove(name: string): CiKeyRecord {
    const all = this.list();
    const found = all.find((k) => k.name === name);
    if (!found) throw new SlipwayError('E_NOT_FOUND', `no CI key named ${name}; slipway ci-key list shows them`, { name });
    this.store.setMeta(META_KEY, JSON.stringify(all.filter((k) => k.name !== name)));
    return found;
  }

  /**
   * Which registered key signed this release, or null when the service has no key
   * (then nothing is asked). Throws E_ARTEFACT_TAMPERED when the service has keys
   * and the signature is missing or made by none of them.
   */
  check(o: { service: string; digest: string; commit: string; signature: string | null }): { key: string; keyId: string } | null {
    const keys = this.list().filter((k) => k.services.includes(o.service));
    if (keys.length === 0) {
      if (o.signature !== null) throw new SlipwayError('E_BAD_REQUEST', `the release is signed, but no CI key is registered for service ${o.service}; an admin registers one with slipway ci-key add`, { service: o.service });
      return null;
    }
    const names = keys.map((k) => k.name).join(', ');
    if (o.signature === null) {
      throw new SlipwayError('E_ARTEFACT_TAMPERED', `service ${o.service} takes releases from CI signed by a registered key (${names}); this one is not signed (slipway ci-release --signing-key)`, { service: o.service });
    }
    const statement = Buffer.from(ciSignedStatement(o));
    const signature = Buffer.from(o.signature, 'base64');
    const signer = keys.find((k) => verify(null, statement, createPublicKey(k.publicKeyPem), signature));
    if (!signer) {
      throw new SlipwayError('E_ARTEFACT_TAMPERED', `the release's signature is not made by a CI key registered for ${o.service} (${names}) over this artefact and commit; refusing it`, { service: o.service, digest: o.digest });
    }
    return { key: signer.name, keyId: signer.keyId };
  }
}
