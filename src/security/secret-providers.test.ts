import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.ts';
import { deriveMasterKey } from './master-key.ts';
import { SecretCipher } from './secret-cipher.ts';
import { EnvSecretProvider, FileSecretProvider } from './secret-providers.ts';

const cipher = new SecretCipher(deriveMasterKey(randomBytes(32), 'test'));
const at = { env: 'production', name: 'API_TOKEN' };

async function errorOf(p: Promise<unknown>): Promise<SlipwayError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof SlipwayError) return e;
    throw e;
  }
  throw new Error('expected an error');
}

describe('the file secret provider', () => {
  const root = mkdtempSync(join(tmpdir(), 'slipway-secret-file-'));
  const dataDir = join(root, '.slipway');
  mkdirSync(join(dataDir, 'keys'), { recursive: true });
  writeFileSync(join(dataDir, 'keys', 'master.key'), 'the-master-key');
  const p = new FileSecretProvider({ cipher, dataDir });

  it('reads the file less its final newline, and pins a fingerprint that changes with the contents', async () => {
    const file = join(root, 'token');
    writeFileSync(file, 'file-secret-value\n');
    const pin = await p.pin({ provider: 'file', path: file }, at);
    expect(pin).toEqual({ provider: 'file', path: file, fingerprint: cipher.fingerprint('file-secret-value') });
    expect(await p.read(pin, at)).toBe('file-secret-value');
    writeFileSync(file, 'another-value');
    expect((await p.pin({ provider: 'file', path: file }, at)).fingerprint).not.toBe(pin.fingerprint);
  });

  it('refuses files inside the data directory, through a link too, and missing files, as E_SECRET_UNAVAILABLE', async () => {
    const key = await errorOf(p.read({ path: join(dataDir, 'keys', 'master.key') }, at));
    expect(key.code).toBe('E_SECRET_UNAVAILABLE');
    expect(key.message).toMatch(/inside slipway's data directory/);
    symlinkSync(join(dataDir, 'keys', 'master.key'), join(root, 'innocent-link'));
    expect((await errorOf(p.read({ path: join(root, 'innocent-link') }, at))).message).toMatch(/inside slipway's data directory/);
    expect((await errorOf(p.read({ path: join(root, 'absent') }, at))).message).toBe(`secret API_TOKEN of production: cannot read the file ${join(root, 'absent')} (ENOENT)`);
  });
});

describe('the env secret provider', () => {
  const p = new EnvSecretProvider({ cipher, env: { SLIPWAY_SECRET_API: 'env-secret-value', SLIPWAY_MASTER_KEY: 'k' }, prefix: 'SLIPWAY_SECRET_' });

  it('reads SLIPWAY_SECRET_* variables of the server', async () => {
    const pin = await p.pin({ provider: 'env', name: 'SLIPWAY_SECRET_API' }, at);
    expect(await p.read(pin, at)).toBe('env-secret-value');
  });

  it('refuses any other variable, and an unset one, as E_SECRET_UNAVAILABLE', async () => {
    expect((await errorOf(p.read({ name: 'SLIPWAY_MASTER_KEY' }, at))).message).toMatch(/only server variables named SLIPWAY_SECRET_\* may be read/);
    expect((await errorOf(p.read({ name: 'SLIPWAY_SECRET_UNSET' }, at))).message).toMatch(/has no SLIPWAY_SECRET_UNSET; start the server with it set/);
  });
});
