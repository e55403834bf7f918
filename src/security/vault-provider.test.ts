// VaultKvProvider against FakeVault: an in-process fake of the two Vault endpoints
// the provider uses (see test/support/fake-vault.ts for what it does not do).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlipwayError } from '../core/errors.ts';
import { FakeVault } from '../../test/support/fake-vault.ts';
import { VaultKvProvider, vaultSettingsFrom, type VaultSettings } from './vault-provider.ts';

const at = { env: 'production', name: 'DB_PASSWORD' };
const spec = { provider: 'vault' as const, mount: 'secret', path: 'hello/db', key: 'password' };

async function errorOf(p: Promise<unknown>): Promise<SlipwayError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof SlipwayError) return e;
    throw e;
  }
  throw new Error('expected an error');
}

describe('VaultKvProvider (against a fake Vault)', () => {
  let vault: FakeVault;
  let settings: VaultSettings;

  beforeAll(async () => {
    vault = await new FakeVault({ tokens: ['s.test-token'], appRole: { roleId: 'role-1', secretId: 'secret-1', token: 's.approle-token' } }).start();
    vault.put('secret', 'hello/db', { password: 'first-password-v1', user: 'app' });
    settings = { ...vaultSettingsFrom({ VAULT_ADDR: `${vault.url}/`, VAULT_TOKEN: 's.test-token' }), timeoutMs: 2000 };
  });
  afterAll(() => vault.close());

  it('pins the current version and reads exactly that version later, even after the secret changes', async () => {
    const p = new VaultKvProvider(settings);
    const pin = await p.pin(spec, at);
    expect(pin).toEqual({ ...spec, version: 1 });
    vault.put('secret', 'hello/db', { password: 'second-password-v2' });
    expect(await p.read(pin, at)).toBe('first-password-v1');
    const newer = await p.pin(spec, at);
    expect(newer.version).toBe(2);
    expect(await p.read(newer, at)).toBe('second-password-v2');
    expect(vault.requests.at(-1)).toMatchObject({ method: 'GET', url: '/v1/secret/data/hello/db?version=2', token: 's.test-token' });
  });

  it('logs in with an AppRole when it has no token, and uses the token it gets', async () => {
    const p = new VaultKvProvider({ ...settings, token: null, roleId: 'role-1', secretId: 'secret-1' });
    const pin = await p.pin(spec, at);
    expect(await p.read(pin, at)).toMatch(/password/);
    const logins = vault.requests.filter((r) => r.url === '/v1/auth/approle/login');
    expect(logins).toHaveLength(1); // the token is reused, not a login per read
    expect(vault.requests.at(-1)?.token).toBe('s.approle-token');
  });

  it('says clearly what is wrong, as E_SECRET_UNAVAILABLE, and never returns an empty value', async () => {
    const p = new VaultKvProvider(settings);
    const missingKey = await errorOf(p.pin({ ...spec, key: 'nope' }, at));
    expect(missingKey.code).toBe('E_SECRET_UNAVAILABLE');
    expect(missingKey.message).toMatch(/secret DB_PASSWORD of production: vault secret\/hello\/db#nope: the secret has no string key "nope" \(it has: password\)/);
    expect((await errorOf(p.pin({ ...spec, path: 'no/such' }, at))).message).toMatch(/Vault answered 404 for vault secret\/no\/such#password \(no such secret or version\)/);
    expect((await errorOf(new VaultKvProvider({ ...settings, token: 's.wrong' }).pin(spec, at))).message).toMatch(/Vault answered 403 for vault secret\/hello\/db#password \(the token may not read it, or has expired\): permission denied/);
    expect((await errorOf(new VaultKvProvider({ ...settings, address: null }).pin(spec, at))).message).toMatch(/no VAULT_ADDR/);
    expect((await errorOf(new VaultKvProvider({ ...settings, token: null }).pin(spec, at))).message).toMatch(/no VAULT_TOKEN \(nor VAULT_ROLE_ID and VAULT_SECRET_ID\)/);
    expect((await errorOf(new VaultKvProvider({ ...settings, address: 'http://127.0.0.1:1' }).pin(spec, at))).message).toMatch(/cannot reach Vault at http:\/\/127\.0\.0\.1:1/);
    vault.deleteVersion('secret', 'hello/db', 1);
    expect((await errorOf(p.read({ ...spec, version: 1 }, at))).message).toMatch(/Vault answered 404/);
  });

  it('never puts a value or a token in its errors', async () => {
    const p = new VaultKvProvider(settings);
    const e = await errorOf(p.pin({ ...spec, key: 'absent' }, at));
    expect(e.message).not.toContain('password-v');
    expect(e.message).not.toContain('s.test-token');
  });
});
