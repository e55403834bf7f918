// security/: secrets encrypted at rest, their providers, and redaction.
//
// It must not: write a secret's value anywhere but an AES-256-GCM ciphertext in
// state.db and an instance's environment; put a value in an error, a log line or
// an answer; hand an empty value in place of one it could not read.
//
// openSecrets is its entry for the server: the master key loaded (or created on
// first start), checked against what state.db holds, and every provider wired.

import { EnvSecretProvider, FileSecretProvider } from './secret-providers.ts';
import { loadMasterKey, MASTER_KEY_ENV } from './master-key.ts';
import type { Redactor } from './redactor.ts';
import { SecretCipher } from './secret-cipher.ts';
import { Secrets } from './secrets.ts';
import { VaultKvProvider, vaultSettingsFrom } from './vault-provider.ts';
import type { ConfigStore } from '../store/config-store.ts';
import { SECRET_ENV_PREFIX } from '../core/service-config.ts';

export interface OpenSecretsOptions {
  configs: ConfigStore;
  dataDir: string;
  keyFile: string;
  /** The server's environment: SLIPWAY_MASTER_KEY, VAULT_*, SLIPWAY_SECRET_*. */
  env: Record<string, string | undefined>;
  redactor: Redactor;
}

export interface OpenedSecrets {
  secrets: Secrets;
  /** For other values kept encrypted with the master key (TLS certificates, ACME account keys). */
  cipher: SecretCipher;
  keyId: string;
  keySource: string;
  keyCreated: boolean;
  warning: string | null;
}

/** Throws E_SECRET_KEY when the key is malformed, missing, or not the one the stored secrets need. */
export async function openSecrets(o: OpenSecretsOptions): Promise<OpenedSecrets> {
  const loaded = loadMasterKey({ envValue: o.env[MASTER_KEY_ENV], keyFile: o.keyFile, expectedKeyId: o.configs.storedKeyId() });
  const cipher = new SecretCipher(loaded.key);
  const secrets = new Secrets({
    configs: o.configs,
    cipher,
    redactor: o.redactor,
    vault: new VaultKvProvider(vaultSettingsFrom(o.env)),
    file: new FileSecretProvider({ cipher, dataDir: o.dataDir }),
    env: new EnvSecretProvider({ cipher, env: o.env, prefix: SECRET_ENV_PREFIX }),
  });
  // Every stored value decrypts now (or the server does not start): a bad row is
  // found at start, not at the next deploy, and every value is masked from here on.
  await secrets.loadStoredIntoRedactor();
  return { secrets, cipher, keyId: loaded.key.id, keySource: loaded.key.source, keyCreated: loaded.created, warning: loaded.warning };
}
