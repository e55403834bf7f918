// Secrets kept in HashiCorp Vault's KV version 2 engine, over its HTTP API. Two
// endpoints: POST /v1/auth/approle/login (only when the server logs in with an
// AppRole instead of being given a token) and GET /v1/<mount>/data/<path>, read
// at the latest version when a release is made (which pins that version) and at
// the pinned version (?version=N) when an instance starts, so a release keeps its
// exact value even after the secret changes in Vault.
//
// Where Vault is and how to log in is the server operator's choice, from the
// server's own environment (VAULT_ADDR, VAULT_TOKEN or VAULT_ROLE_ID and
// VAULT_SECRET_ID, VAULT_NAMESPACE), never slipway.yaml's: a deployer cannot send
// the server's token to a Vault of their choosing.

import type { PinnedSecret } from '../core/records.ts';
import type { ExternalSecretSpec } from '../core/service-config.ts';
import { unavailable, type SecretAt, type SecretProvider } from './secret-providers.ts';

type VaultSpec = Extract<ExternalSecretSpec, { provider: 'vault' }>;
type VaultPin = Extract<PinnedSecret, { provider: 'vault' }>;

export interface VaultSettings {
  /** e.g. https://vault.internal:8200; null: no Vault configured. */
  address: string | null;
  token: string | null;
  roleId: string | null;
  secretId: string | null;
  namespace: string | null;
  timeoutMs: number;
}

/** Vault's settings from an environment (the server's), by Vault's own variable names. */
export function vaultSettingsFrom(env: Record<string, string | undefined>): VaultSettings {
  const get = (k: string) => (env[k] ? env[k]! : null);
  return {
    address: get('VAULT_ADDR')?.replace(/\/+$/, '') ?? null,
    token: get('VAULT_TOKEN'),
    roleId: get('VAULT_ROLE_ID'),
    secretId: get('VAULT_SECRET_ID'),
    namespace: get('VAULT_NAMESPACE'),
    timeoutMs: 5000,
  };
}

interface KvAnswer {
  data?: { data?: Record<string, unknown> | null; metadata?: { version?: number; deletion_time?: string; destroyed?: boolean } };
}

export class VaultKvProvider implements SecretProvider<VaultSpec, VaultPin> {
  private loginToken: { token: string; renewAt: number } | null = null;

  constructor(private readonly s: VaultSettings) {}

  async pin(spec: VaultSpec, at: SecretAt): Promise<VaultPin> {
    const { version } = await this.readKey({ ...spec, version: null }, at);
    return { provider: 'vault', mount: spec.mount, path: spec.path, key: spec.key, version };
  }

  async read(pinned: VaultPin, at: SecretAt): Promise<string> {
    return (await this.readKey(pinned, at)).value;
  }

  private async readKey(ref: { mount: string; path: string; key: string; version: number | null }, at: SecretAt): Promise<{ value: string; version: number }> {
    const where = `vault ${ref.mount}/${ref.path}#${ref.key}${ref.version === null ? '' : ` version ${ref.version}`}`;
    const url = `/v1/${ref.mount}/data/${ref.path.split('/').map(encodeURIComponent).join('/')}${ref.version === null ? '' : `?version=${ref.version}`}`;
    const res = await this.call('GET', url, undefined, at, where);
    const body = res.body as KvAnswer;
    const data = body.data?.data;
    const meta = body.data?.metadata;
    if (!data || meta?.destroyed || meta?.deletion_time) throw unavailable(at, `${where} has been deleted in Vault`);
    const value = data[ref.key];
    if (typeof value !== 'string') throw unavailable(at, `${where}: the secret has no string key "${ref.key}" (it has: ${Object.keys(data).join(', ') || 'none'})`);
    const version = Number(meta?.version);
    if (!Number.isInteger(version) || version < 1) throw unavailable(at, `${where}: Vault's answer has no version; is ${ref.mount} a KV version 2 engine?`);
    return { value, version };
  }

  private async token(at: SecretAt): Promise<string> {
    if (this.s.token) return this.s.token;
    if (this.loginToken && Date.now() < this.loginToken.renewAt) return this.loginToken.token;
    if (!this.s.roleId || !this.s.secretId) {
      throw unavailable(at, 'the server has VAULT_ADDR but no VAULT_TOKEN (nor VAULT_ROLE_ID and VAULT_SECRET_ID) to log in to Vault with');
    }
    const res = await this.call('POST', '/v1/auth/approle/login', { role_id: this.s.roleId, secret_id: this.s.secretId }, at, 'the AppRole login', false);
    const auth = (res.body as { auth?: { client_token?: string; lease_duration?: number } }).auth;
    if (!auth?.client_token) throw unavailable(at, 'Vault\'s AppRole login answered without a token');
    // Log in again at half the token's lifetime, well before it expires.
    this.loginToken = { token: auth.client_token, renewAt: Date.now() + Math.max(1, auth.lease_duration ?? 60) * 500 };
    return auth.client_token;
  }

  private async call(method: 'GET' | 'POST', path: string, body: unknown, at: SecretAt, what: string, withToken = true): Promise<{ body: unknown }> {
    if (!this.s.address) {
      throw unavailable(at, `it is kept in Vault, but the server has no VAULT_ADDR; start the server with VAULT_ADDR and VAULT_TOKEN (or VAULT_ROLE_ID and VAULT_SECRET_ID)`);
    }
    const headers: Record<string, string> = {};
    if (withToken) headers['x-vault-token'] = await this.token(at);
    if (this.s.namespace) headers['x-vault-namespace'] = this.s.namespace;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${this.s.address}${path}`, {
        method, headers, signal: AbortSignal.timeout(this.s.timeoutMs), ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (e) {
      const reason = (e as Error).name === 'TimeoutError' ? `no answer within ${this.s.timeoutMs}ms` : ((e as Error).cause as Error | undefined)?.message ?? (e as Error).message;
      throw unavailable(at, `cannot reach Vault at ${this.s.address} for ${what}: ${reason}`, e);
    }
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      // an answer that is not JSON is reported by its status below
    }
    if (!res.ok) {
      // Vault's error answers carry only messages ({"errors": [...]}); a body is never quoted otherwise.
      const errors = (json as { errors?: unknown } | null)?.errors;
      const said = Array.isArray(errors) && errors.every((x) => typeof x === 'string') && errors.length ? `: ${errors.join('; ').slice(0, 300)}` : '';
      const hint = res.status === 403 ? ' (the token may not read it, or has expired)' : res.status === 404 ? ' (no such secret or version)' : '';
      throw unavailable(at, `Vault answered ${res.status} for ${what}${hint}${said}`);
    }
    if (json === null) throw unavailable(at, `Vault's answer for ${what} is not JSON`);
    return { body: json };
  }
}
