import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.ts';
import { deriveMasterKey, loadMasterKey, parseMasterKeyText } from './master-key.ts';

function errorOf(fn: () => unknown): SlipwayError {
  try {
    fn();
  } catch (e) {
    if (e instanceof SlipwayError) return e;
    throw e;
  }
  throw new Error('expected an error');
}

describe('master key', () => {
  const raw = randomBytes(32);

  it('reads 32 bytes as hex, base64 or base64url, with surrounding whitespace', () => {
    for (const text of [raw.toString('hex'), raw.toString('base64'), raw.toString('base64url'), ` ${raw.toString('base64')}\n`]) {
      expect(parseMasterKeyText(text, 'SLIPWAY_MASTER_KEY').equals(raw)).toBe(true);
    }
  });

  it('refuses anything else with E_SECRET_KEY, without echoing the text', () => {
    for (const text of ['', 'short', randomBytes(16).toString('hex'), randomBytes(31).toString('base64'), `${raw.toString('hex')}00`, 'not base64 at all!!']) {
      const e = errorOf(() => parseMasterKeyText(text, 'SLIPWAY_MASTER_KEY'));
      expect(e.code).toBe('E_SECRET_KEY');
      expect(e.message).toMatch(/64 hex digits or as base64/);
      if (text.length > 4) expect(e.message).not.toContain(text);
    }
  });

  it('creates a key file with mode 0600 on first start, then reads the same key back', () => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-key-'));
    const keyFile = join(dir, 'keys', 'master.key');
    const first = loadMasterKey({ envValue: undefined, keyFile, expectedKeyId: null });
    expect(first.created).toBe(true);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'keys')).mode & 0o077).toBe(0);
    const again = loadMasterKey({ envValue: undefined, keyFile, expectedKeyId: first.key.id });
    expect(again.created).toBe(false);
    expect(again.key.id).toBe(first.key.id);
    expect(again.warning).toBeNull();
    chmodSync(keyFile, 0o644);
    expect(loadMasterKey({ envValue: undefined, keyFile, expectedKeyId: first.key.id }).warning).toMatch(/can be read by other users/);
  });

  it('SLIPWAY_MASTER_KEY wins over the key file, and no file is created for it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-key-'));
    const keyFile = join(dir, 'master.key');
    const k = loadMasterKey({ envValue: raw.toString('base64'), keyFile, expectedKeyId: null });
    expect(k.key.id).toBe(deriveMasterKey(raw, 'x').id);
    expect(k.key.source).toBe('SLIPWAY_MASTER_KEY');
    expect(() => statSync(keyFile)).toThrow();
  });

  it('a missing key when secrets are stored is E_SECRET_KEY, not a fresh key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-key-'));
    const keyFile = join(dir, 'master.key');
    const e = errorOf(() => loadMasterKey({ envValue: undefined, keyFile, expectedKeyId: 'abcdef0123456789' }));
    expect(e.code).toBe('E_SECRET_KEY');
    expect(e.message).toMatch(/no key: SLIPWAY_MASTER_KEY is not set and .*master\.key does not exist/);
    expect(() => statSync(keyFile)).toThrow();
  });

  it('a key other than the one the secrets were stored with is E_SECRET_KEY naming both ids', () => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-key-'));
    const keyFile = join(dir, 'master.key');
    writeFileSync(keyFile, randomBytes(32).toString('hex'), { mode: 0o600 });
    const expected = deriveMasterKey(raw, 'x').id;
    const e = errorOf(() => loadMasterKey({ envValue: undefined, keyFile, expectedKeyId: expected }));
    expect(e.code).toBe('E_SECRET_KEY');
    expect(e.message).toContain(expected);
    expect(readFileSync(keyFile, 'utf8')).toHaveLength(64);
  });
});
