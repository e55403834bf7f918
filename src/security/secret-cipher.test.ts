import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.ts';
import { deriveMasterKey } from './master-key.ts';
import { SecretCipher } from './secret-cipher.ts';

const cipherOf = () => new SecretCipher(deriveMasterKey(randomBytes(32), 'test key'));
const ctx = { env: 'production', name: 'DB_PASSWORD', version: 3 };

function codeOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (e) {
    return e instanceof SlipwayError ? e.code : `not a SlipwayError: ${String(e)}`;
  }
}

describe('SecretCipher', () => {
  it('round-trips values, including empty-looking, multi-line and non-ASCII ones', () => {
    const c = cipherOf();
    for (const v of ['s3cr3t-value', ' spaces ', '-----BEGIN KEY-----\nabc\n-----END KEY-----\n', 'pässwörd ✓ 密码', 'x'.repeat(65_536)]) {
      expect(c.decrypt(c.encrypt(v, ctx), ctx)).toBe(v);
    }
  });

  it('never produces the same ciphertext twice, and the value does not appear in it', () => {
    const c = cipherOf();
    const a = c.encrypt('hunter2-hunter2', ctx);
    const b = c.encrypt('hunter2-hunter2', ctx);
    expect(a.equals(b)).toBe(false);
    expect(a.includes(Buffer.from('hunter2'))).toBe(false);
  });

  it('detects any changed byte (format, nonce, tag or body) as E_SECRET_KEY', () => {
    const c = cipherOf();
    const blob = c.encrypt('the-original-value', ctx);
    for (let i = 0; i < blob.length; i++) {
      const bad = Buffer.from(blob);
      bad[i] = bad[i]! ^ 0x01;
      expect(codeOf(() => c.decrypt(bad, ctx)), `byte ${i}`).toBe('E_SECRET_KEY');
    }
    expect(codeOf(() => c.decrypt(blob.subarray(0, blob.length - 1), ctx))).toBe('E_SECRET_KEY');
    expect(codeOf(() => c.decrypt(blob.subarray(0, 10), ctx))).toBe('E_SECRET_KEY');
  });

  it('refuses a ciphertext moved to another environment, name or version', () => {
    const c = cipherOf();
    const blob = c.encrypt('production-only', ctx);
    expect(codeOf(() => c.decrypt(blob, { ...ctx, env: 'staging' }))).toBe('E_SECRET_KEY');
    expect(codeOf(() => c.decrypt(blob, { ...ctx, name: 'OTHER' }))).toBe('E_SECRET_KEY');
    expect(codeOf(() => c.decrypt(blob, { ...ctx, version: 2 }))).toBe('E_SECRET_KEY');
  });

  it('with the wrong key fails with E_SECRET_KEY, never an empty or garbled value, and says which keys', () => {
    const right = cipherOf();
    const wrong = cipherOf();
    const blob = right.encrypt('only-the-right-key', ctx);
    expect(codeOf(() => wrong.decrypt(blob, ctx))).toBe('E_SECRET_KEY');
    try {
      wrong.decrypt(blob, ctx, right.keyId);
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).toContain(right.keyId);
      expect((e as Error).message).toContain(wrong.keyId);
      expect((e as Error).message).not.toContain('only-the-right-key');
    }
  });

  it('fingerprints equal values equally under one key and differently under another', () => {
    const a = cipherOf();
    const b = cipherOf();
    expect(a.fingerprint('same')).toBe(a.fingerprint('same'));
    expect(a.fingerprint('same')).not.toBe(a.fingerprint('other'));
    expect(a.fingerprint('same')).not.toBe(b.fingerprint('same'));
    expect(a.fingerprint('same')).not.toContain('same');
  });
});
