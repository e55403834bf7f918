// security/'s face to the engine for secrets: storing a new version (encrypted),
// pinning a release's external secrets, and resolving the values an instance gets.
// Every value it handles is added to the server's redactor, so that the server's
// own log lines and API answers mask it too.

import { SlipwayError } from '../core/errors.ts';
import type { PinnedSecret, SecretVersionRecord } from '../core/records.ts';
import type { ExternalSecretSpec } from '../core/service-config.ts';
import type { ConfigStore } from '../store/config-store.ts';
import { MIN_SECRET_LENGTH, type Redactor } from './redactor.ts';
import type { SecretCipher } from './secret-cipher.ts';
import { EnvSecretProvider, FileSecretProvider, StoreSecretProvider, unavailable, type SecretAt } from './secret-providers.ts';
import type { VaultKvProvider } from './vault-provider.ts';

export interface SecretsOptions {
  configs: ConfigStore;
  cipher: SecretCipher;
  /** The server's log lines and API answers pass through this. */
  redactor: Redactor;
  vault: VaultKvProvider;
  file: FileSecretProvider;
  env: EnvSecretProvider;
}

/** Why a value cannot be a secret, or null. The value itself is never part of the answer. */
export function secretValueProblem(value: string): string | null {
  if (value.length < MIN_SECRET_LENGTH) return `it is shorter than ${MIN_SECRET_LENGTH} characters, too short to be masked in logs`;
  if (value.includes('\0')) return 'it holds a NUL character, which no environment variable can';
  if (Buffer.byteLength(value) > 64 * 1024) return 'it is over 64 KiB';
  return null;
}

export class Secrets {
  private readonly store: StoreSecretProvider;

  constructor(private readonly o: SecretsOptions) {
    this.store = new StoreSecretProvider({ configs: o.configs, cipher: o.cipher });
  }

  get redactor(): Redactor {
    return this.o.redactor;
  }

  fingerprint(value: string): string {
    return this.o.cipher.fingerprint(value);
  }

  /** Encrypts and records the next version of a stored secret. Run it in the transaction that records the config version. */
  storeValue(at: SecretAt, value: string, actor: string, now: number): SecretVersionRecord {
    const problem = secretValueProblem(value);
    if (problem) throw new SlipwayError('E_BAD_REQUEST', `the value for secret ${at.name} was refused: ${problem}`, { env: at.env, name: at.name });
    const version = this.o.configs.nextSecretVersion(at.env, at.name);
    const record: SecretVersionRecord = {
      env: at.env, name: at.name, version, fingerprint: this.fingerprint(value), keyId: this.o.cipher.keyId, createdAt: now, createdBy: actor,
    };
    this.o.configs.insertSecret({ ...record, ciphertext: this.o.cipher.encrypt(value, { env: at.env, name: at.name, version }) });
    this.o.redactor.add([value]);
    return record;
  }

  /** Pins each external secret of an environment (Vault's current version, a fingerprint of a file or variable). */
  async pinExternal(env: string, specs: Record<string, ExternalSecretSpec>): Promise<Record<string, PinnedSecret>> {
    const pins = await Promise.all(Object.entries(specs).map(async ([name, spec]) => [name, await this.pinOne(spec, { env, name })] as const));
    return Object.fromEntries(pins);
  }

  private pinOne(spec: ExternalSecretSpec, at: SecretAt): Promise<PinnedSecret> {
    switch (spec.provider) {
      case 'vault':
        return this.o.vault.pin(spec, at);
      case 'file':
        return this.o.file.pin(spec, at);
      case 'env':
        return this.o.env.pin(spec, at);
    }
  }

  /**
   * The current value of one external secret that is not an instance's (a webhook's
   * URL, say): pinned and read at once, and masked in logs from then on.
   */
  async readExternal(at: SecretAt, spec: ExternalSecretSpec): Promise<string> {
    const value = await this.readOne(await this.pinOne(spec, at), at);
    const problem = secretValueProblem(value);
    if (problem) throw unavailable(at, `its value cannot be used: ${problem}`);
    this.o.redactor.add([value]);
    return value;
  }

  /** Every secret value of a release, by variable name; any failure fails the whole. */
  async resolve(env: string, pins: Record<string, PinnedSecret>): Promise<Record<string, string>> {
    const values = await Promise.all(Object.entries(pins).map(async ([name, pin]) => {
      const at = { env, name };
      const value = await this.readOne(pin, at);
      const problem = secretValueProblem(value);
      if (problem) throw unavailable(at, `its value cannot be used: ${problem}`);
      return [name, value] as const;
    }));
    this.o.redactor.add(values.map(([, v]) => v));
    return Object.fromEntries(values);
  }

  private readOne(pin: PinnedSecret, at: SecretAt): Promise<string> {
    switch (pin.provider) {
      case 'store':
        return this.store.read(pin, at);
      case 'vault':
        return this.o.vault.read(pin, at);
      case 'file':
        return this.o.file.read(pin, at);
      case 'env':
        return this.o.env.read(pin, at);
    }
  }

  /**
   * Decrypts every stored version so the server masks their values from its first
   * log line on, not only once an instance has needed them. A version that does
   * not decrypt is reported, never skipped: it would stay unmasked.
   */
  async loadStoredIntoRedactor(): Promise<void> {
    for (const s of this.o.configs.listSecrets()) {
      this.o.redactor.add([await this.store.read({ version: s.version }, { env: s.env, name: s.name })]);
    }
  }
}
