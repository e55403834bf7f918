// Typed queries over config versions and stored secrets. Ciphertexts come in and
// go out as they are: encrypting and decrypting is security/'s job, not the store's.

import { SlipwayError } from '../core/errors.ts';
import type { ConfigVersionRecord, SecretVersionRecord } from '../core/records.ts';
import type { Db } from './open-database.ts';

type Row = Record<string, unknown>;

function parseMap<T>(text: unknown, what: string): Record<string, T> {
  try {
    const v = JSON.parse(String(text)) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, T>;
  } catch {
    // reported below
  }
  throw new SlipwayError('E_STATE_CORRUPT', `state.db holds unreadable JSON in ${what}`);
}

const toVersion = (r: Row): ConfigVersionRecord => ({
  env: String(r.env), number: Number(r.number),
  values: parseMap<string>(r.values_json, `config version ${String(r.env)}/${String(r.number)}`),
  secrets: parseMap<number>(r.secrets_json, `config version ${String(r.env)}/${String(r.number)}`),
  change: String(r.change), createdAt: Number(r.created_at), createdBy: String(r.created_by),
});

const toSecret = (r: Row): SecretVersionRecord => ({
  env: String(r.env), name: String(r.name), version: Number(r.version), fingerprint: String(r.fingerprint),
  keyId: String(r.key_id), createdAt: Number(r.created_at), createdBy: String(r.created_by),
});

export class ConfigStore {
  constructor(private readonly db: Db) {}

  latestVersion(env: string): ConfigVersionRecord | null {
    const r = this.db.prepare('SELECT * FROM config_versions WHERE env = ? ORDER BY number DESC LIMIT 1').get(env) as Row | undefined;
    return r ? toVersion(r) : null;
  }

  listVersions(env: string, limit = 50): ConfigVersionRecord[] {
    return (this.db.prepare('SELECT * FROM config_versions WHERE env = ? ORDER BY number DESC LIMIT ?').all(env, limit) as Row[]).map(toVersion);
  }

  /** Appends the next version of an environment's config; the number is given here, in order. */
  insertVersion(v: Omit<ConfigVersionRecord, 'number'>): ConfigVersionRecord {
    const last = this.db.prepare('SELECT MAX(number) AS n FROM config_versions WHERE env = ?').get(v.env) as Row;
    const number = Number(last.n ?? 0) + 1;
    this.db.prepare('INSERT INTO config_versions (env, number, values_json, secrets_json, change, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(v.env, number, JSON.stringify(v.values), JSON.stringify(v.secrets), v.change, v.createdAt, v.createdBy);
    return { ...v, number };
  }

  nextSecretVersion(env: string, name: string): number {
    const r = this.db.prepare('SELECT MAX(version) AS v FROM secret_versions WHERE env = ? AND name = ?').get(env, name) as Row;
    return Number(r.v ?? 0) + 1;
  }

  insertSecret(s: SecretVersionRecord & { ciphertext: Buffer }): void {
    this.db.prepare('INSERT INTO secret_versions (env, name, version, ciphertext, fingerprint, key_id, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(s.env, s.name, s.version, s.ciphertext, s.fingerprint, s.keyId, s.createdAt, s.createdBy);
  }

  getSecret(env: string, name: string, version: number): (SecretVersionRecord & { ciphertext: Buffer }) | null {
    const r = this.db.prepare('SELECT * FROM secret_versions WHERE env = ? AND name = ? AND version = ?').get(env, name, version) as Row | undefined;
    return r ? { ...toSecret(r), ciphertext: r.ciphertext as Buffer } : null;
  }

  /** Every stored version's metadata, without ciphertexts. */
  listSecrets(env?: string): SecretVersionRecord[] {
    const sql = 'SELECT env, name, version, fingerprint, key_id, created_at, created_by FROM secret_versions' + (env ? ' WHERE env = ?' : '') + ' ORDER BY env, name, version';
    return ((env ? this.db.prepare(sql).all(env) : this.db.prepare(sql).all()) as Row[]).map(toSecret);
  }

  /** The key the stored secrets were encrypted with; null when none are stored. */
  storedKeyId(): string | null {
    const r = this.db.prepare('SELECT key_id FROM secret_versions ORDER BY created_at DESC LIMIT 1').get() as Row | undefined;
    return r ? String(r.key_id) : null;
  }
}
