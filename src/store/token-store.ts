// Typed queries over API tokens. Only a hash of each token's secret is stored;
// making and checking secrets is security/'s job.

import { SlipwayError } from '../core/errors.ts';
import { isRole, type Role } from '../core/roles.ts';
import type { Db } from './open-database.ts';

export interface TokenRecord {
  id: string;
  user: string;
  role: Role;
  envs: string[] | null;
  secretHash: string;
  createdAt: number;
  createdBy: string;
  expiresAt: number | null;
  revokedAt: number | null;
  revokedBy: string | null;
  lastUsedAt: number | null;
}

type Row = Record<string, unknown>;

function toToken(r: Row): TokenRecord {
  const role = String(r.role);
  if (!isRole(role)) throw new SlipwayError('E_STATE_CORRUPT', `token ${String(r.id)} has unknown role ${role}`);
  let envs: string[] | null = null;
  if (r.envs_json !== null) {
    try {
      envs = JSON.parse(String(r.envs_json)) as string[];
    } catch (e) {
      throw new SlipwayError('E_STATE_CORRUPT', `token ${String(r.id)} has unreadable environments`, {}, { cause: e });
    }
  }
  const n = (v: unknown) => (v === null ? null : Number(v));
  return {
    id: String(r.id), user: String(r.user), role, envs, secretHash: String(r.secret_hash), createdAt: Number(r.created_at),
    createdBy: String(r.created_by), expiresAt: n(r.expires_at), revokedAt: n(r.revoked_at),
    revokedBy: r.revoked_by === null ? null : String(r.revoked_by), lastUsedAt: n(r.last_used_at),
  };
}

export class TokenStore {
  constructor(private readonly db: Db) {}

  insert(t: Omit<TokenRecord, 'revokedAt' | 'revokedBy' | 'lastUsedAt'>): void {
    this.db.prepare(`INSERT INTO api_tokens (id, user, role, envs_json, secret_hash, created_at, created_by, expires_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).run(t.id, t.user, t.role, t.envs === null ? null : JSON.stringify(t.envs), t.secretHash, t.createdAt, t.createdBy, t.expiresAt);
  }

  get(id: string): TokenRecord | null {
    const r = this.db.prepare('SELECT * FROM api_tokens WHERE id = ?').get(id) as Row | undefined;
    return r ? toToken(r) : null;
  }

  list(): TokenRecord[] {
    return (this.db.prepare('SELECT * FROM api_tokens ORDER BY created_at, id').all() as Row[]).map(toToken);
  }

  count(): number {
    return Number((this.db.prepare('SELECT count(*) AS n FROM api_tokens').get() as Row).n);
  }

  /** false when there is no such token or it was revoked already. */
  revoke(id: string, by: string, at: number): boolean {
    return this.db.prepare('UPDATE api_tokens SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL').run(at, by, id).changes === 1;
  }

  touch(id: string, at: number): void {
    this.db.prepare('UPDATE api_tokens SET last_used_at = ? WHERE id = ?').run(at, id);
  }
}
