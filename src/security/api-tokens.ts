// API tokens: 256 random bits, shown once, stored only as a SHA-256 hash (a token
// this random needs no slow hash), compared in constant time. A token reads
// `slw_<id>_<secret>`: the id finds the row, the secret proves the holder.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { SlipwayError } from '../core/errors.ts';
import { writeFileAtomicSync } from '../platform/atomic-file.ts';
import type { Identity, Role } from '../core/roles.ts';
import type { TokenRecord, TokenStore } from '../store/token-store.ts';

const TOKEN_RE = /^slw_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const TOKEN_IN_TEXT = /slw_([0-9a-f]{16})_[A-Za-z0-9_-]{43}/g;

/**
 * Every token in a text keeps its id and loses its secret (`slw_<id>_***`): for log
 * lines, where a token sent in a URL query (which the API refuses) would otherwise
 * be written whole.
 */
export function maskTokens(text: string): string {
  return text.includes('slw_') ? text.replace(TOKEN_IN_TEXT, 'slw_$1_***') : text;
}

export interface NewToken {
  /** The whole token: shown to its holder once, never stored. */
  token: string;
  record: TokenRecord;
}

export type Authentication =
  | { ok: true; identity: Identity }
  | { ok: false; reason: 'malformed' | 'unknown' | 'revoked' | 'expired' };

function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

export class AccessControl {
  constructor(private readonly tokens: TokenStore, private readonly now: () => number = Date.now) {}

  create(o: { user: string; role: Role; envs: string[] | null; expiresAt: number | null; by: string }): NewToken {
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const record: TokenRecord = {
      id, user: o.user, role: o.role, envs: o.envs, secretHash: hashSecret(secret).toString('hex'), createdAt: this.now(),
      createdBy: o.by, expiresAt: o.expiresAt, revokedAt: null, revokedBy: null, lastUsedAt: null,
    };
    this.tokens.insert(record);
    return { token: `slw_${id}_${secret}`, record };
  }

  authenticate(token: string): Authentication {
    const m = TOKEN_RE.exec(token);
    // Hash anyway, so a malformed token costs what a real one does.
    const presented = hashSecret(m?.[2] ?? token);
    if (!m) return { ok: false, reason: 'malformed' };
    const record = this.tokens.get(m[1]!);
    const stored = record ? Buffer.from(record.secretHash, 'hex') : Buffer.alloc(32);
    const same = stored.length === presented.length && timingSafeEqual(stored, presented);
    if (!record || !same) return { ok: false, reason: 'unknown' };
    if (record.revokedAt !== null) return { ok: false, reason: 'revoked' };
    const now = this.now();
    if (record.expiresAt !== null && record.expiresAt <= now) return { ok: false, reason: 'expired' };
    // At most once a minute: a busy client should not turn every read into a write.
    if (record.lastUsedAt === null || now - record.lastUsedAt > 60_000) {
      try {
        this.tokens.touch(record.id, now);
      } catch {
        // A full disk (SQLITE_FULL) must not turn a read, `slipway status` in the middle
        // of an incident, into a refusal: the last use is a convenience, and waits.
      }
    }
    return { ok: true, identity: { user: record.user, role: record.role, envs: record.envs, tokenId: record.id } };
  }

  revoke(id: string, by: string): TokenRecord {
    const t = this.tokens.get(id);
    if (!t) throw new SlipwayError('E_NOT_FOUND', `no token ${id}; \`slipway token list\` shows them`);
    if (!this.tokens.revoke(id, by, this.now())) throw new SlipwayError('E_BAD_REQUEST', `token ${id} was revoked already`);
    for (const listener of this.revokedListeners) listener(id);
    return this.tokens.get(id)!;
  }

  private readonly revokedListeners: ((tokenId: string) => void)[] = [];

  /** Called with a token's id the moment it is revoked (open streams of it end then). */
  onRevoked(listener: (tokenId: string) => void): void {
    this.revokedListeners.push(listener);
  }

  /** Whether a token still lets its holder in (not revoked, not expired): open streams are checked against it. */
  isActive(tokenId: string): boolean {
    const record = this.tokens.get(tokenId);
    return record !== null && record.revokedAt === null && (record.expiresAt === null || record.expiresAt > this.now());
  }

  list(): TokenRecord[] {
    return this.tokens.list();
  }

  /**
   * The first start of a server with no token at all makes an admin token and
   * writes it (mode 0600) where the local CLI looks by default. Returns its id, or
   * null when tokens exist already.
   */
  bootstrapAdmin(file: string, user: string): string | null {
    if (this.tokens.count() > 0) return null;
    const t = this.create({ user, role: 'admin', envs: null, expiresAt: null, by: 'slipway' });
    // Whole or absent: the CLI must never read half a token after a crash.
    writeFileAtomicSync(file, `${t.token}\n`, { mode: 0o600 });
    return t.record.id;
  }
}
