// One entry of an environment's `secrets:` map in slipway.yaml: where the value of
// an external secret lives. Only references are written here, never values;
// secrets kept in slipway's own store are set with `slipway secret set`.

import { SECRET_ENV_PREFIX, type ExternalSecretSpec } from '../core/service-config.ts';
import { matching } from './fields.ts';
import { section } from './section.ts';

export const DEFAULT_VAULT_MOUNT = 'secret';


const vaultReference = section({
  path: matching('a Vault secret path such as hello/db (letters, digits, and - _ . between slashes)', /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/),
  key: matching('the name of a key inside that secret, such as password', /^[A-Za-z0-9_.-]{1,128}$/),
  mount: matching('the name of a KV version 2 secrets engine, such as secret', /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/).prefault(DEFAULT_VAULT_MOUNT),
});

export const secretReference = section({
  vault: vaultReference.optional(),
  file: matching('an absolute path of a file on the server\'s machine, such as /run/secrets/db-password', /^\/\S*[^/\s]$/).optional(),
  env: matching(
    `a variable of the slipway server's environment whose name starts with ${SECRET_ENV_PREFIX} (no other may be read), such as ${SECRET_ENV_PREFIX}DB_PASSWORD`,
    new RegExp(`^${SECRET_ENV_PREFIX}[A-Za-z0-9_]+$`),
  ).optional(),
})
  // A misspelt key (vualt) is already reported as such; "give exactly one" beside it would be noise.
  .refine((s) => Object.keys(s).some((k) => !['vault', 'file', 'env'].includes(k)) || [s.vault, s.file, s.env].filter((x) => x !== undefined).length === 1, {
    error: 'give exactly one of vault: { path, key }, file: /absolute/path or env: SLIPWAY_SECRET_NAME',
  })
  .transform((s): ExternalSecretSpec => {
    if (s.vault) return { provider: 'vault', mount: s.vault.mount, path: s.vault.path, key: s.vault.key };
    if (s.file) return { provider: 'file', path: s.file };
    return { provider: 'env', name: s.env! };
  });
