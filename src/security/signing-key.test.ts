import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadOrCreateSigningKey, verifySignature } from './signing-key.ts';

describe('signing key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-sign-'));
  const keyFile = join(dir, 'keys', 'signing.key');

  it('is created with mode 0600 on first load and read back unchanged', () => {
    const first = loadOrCreateSigningKey(keyFile);
    expect(first.created).toBe(true);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const again = loadOrCreateSigningKey(keyFile);
    expect(again.created).toBe(false);
    expect(again.key.keyId).toBe(first.key.keyId);
    expect(again.key.verify('manifest', first.key.sign('manifest'))).toBe(true);
  });

  it('refuses a signature of other data, a flipped bit, garbage and another key', () => {
    const { key } = loadOrCreateSigningKey(keyFile);
    const sig = key.sign('{"digest":"sha256:aa"}');
    expect(key.verify('{"digest":"sha256:ab"}', sig)).toBe(false);
    const bytes = Buffer.from(sig, 'base64');
    bytes[10] = bytes[10]! ^ 1;
    expect(key.verify('{"digest":"sha256:aa"}', bytes.toString('base64'))).toBe(false);
    expect(key.verify('x', 'not a signature')).toBe(false);
    expect(key.verify('x', '')).toBe(false);
    const other = loadOrCreateSigningKey(join(dir, 'other', 'signing.key')).key;
    expect(other.verify('{"digest":"sha256:aa"}', sig)).toBe(false);
    expect(verifySignature(key.publicKeyPem, '{"digest":"sha256:aa"}', sig)).toBe(true);
    expect(readFileSync(keyFile, 'utf8')).toMatch(/BEGIN PRIVATE KEY/);
  });

  it('refuses a key file that holds no Ed25519 key, with E_SECRET_KEY', () => {
    const bad = join(dir, 'bad.key');
    writeFileSync(bad, 'hello', { mode: 0o600 });
    expect(() => loadOrCreateSigningKey(bad)).toThrow(/does not hold an Ed25519 private key/);
  });
});
