// Where secret values come from. A provider pins a secret when a release is made
// (a version, or a keyed fingerprint of the value it has now) and reads the pinned
// value when an instance starts. Every failure is an error naming the secret and
// the provider: never an empty value in its place, and never the value itself.

import { readFile, realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative } from 'node:path';
import { SlipwayError } from '../core/errors.ts';
import type { PinnedSecret } from '../core/records.ts';
import type { ExternalSecretSpec } from '../core/service-config.ts';
import type { ConfigStore } from '../store/config-store.ts';
import type { SecretCipher } from './secret-cipher.ts';

/** Which secret is asked for: the environment and the variable name its instances see. */
export interface SecretAt {
  env: string;
  name: string;
}

export interface SecretProvider<S extends ExternalSecretSpec = ExternalSecretSpec, P extends PinnedSecret = PinnedSecret> {
  /** Fixes which value a release gets. */
  pin(spec: S, at: SecretAt): Promise<P>;
  /** The value of a pinned secret. */
  read(pinned: P, at: SecretAt): Promise<string>;
}

export function unavailable(at: SecretAt, why: string, cause?: unknown): SlipwayError {
  return new SlipwayError('E_SECRET_UNAVAILABLE', `secret ${at.name} of ${at.env}: ${why}`, { env: at.env, name: at.name }, cause === undefined ? undefined : { cause });
}

const MAX_FILE_BYTES = 64 * 1024;

/**
 * The contents of a file on the server's machine, less one final newline. Files
 * inside the data directory are refused: it holds the master key.
 */
export class FileSecretProvider implements SecretProvider<Extract<ExternalSecretSpec, { provider: 'file' }>, Extract<PinnedSecret, { provider: 'file' }>> {
  constructor(private readonly o: { cipher: SecretCipher; dataDir: string }) {}

  private async value(path: string, at: SecretAt): Promise<string> {
    if (!isAbsolute(path)) throw unavailable(at, `the file ${path} is not an absolute path`);
    try {
      // Through links too: a link elsewhere to keys/master.key is still the master key.
      const inData = relative(await realpath(this.o.dataDir), await realpath(path));
      if (!inData.startsWith('..') && !isAbsolute(inData)) throw unavailable(at, `the file ${path} is inside slipway's data directory, which no secret may be read from`);
      const s = await stat(path);
      if (!s.isFile()) throw unavailable(at, `${path} is not a regular file`);
      if (s.size > MAX_FILE_BYTES) throw unavailable(at, `the file ${path} is over ${MAX_FILE_BYTES} bytes`);
      return (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
    } catch (e) {
      if (e instanceof SlipwayError) throw e;
      throw unavailable(at, `cannot read the file ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, e);
    }
  }

  async pin(spec: { provider: 'file'; path: string }, at: SecretAt) {
    return { provider: 'file' as const, path: spec.path, fingerprint: this.o.cipher.fingerprint(await this.value(spec.path, at)) };
  }

  read(pinned: { path: string }, at: SecretAt): Promise<string> {
    return this.value(pinned.path, at);
  }
}

/** A variable of the server's own environment; config/ allows only SLIPWAY_SECRET_* names, checked again here. */
export class EnvSecretProvider implements SecretProvider<Extract<ExternalSecretSpec, { provider: 'env' }>, Extract<PinnedSecret, { provider: 'env' }>> {
  constructor(private readonly o: { cipher: SecretCipher; env: Record<string, string | undefined>; prefix: string }) {}

  private value(name: string, at: SecretAt): string {
    if (!name.startsWith(this.o.prefix)) throw unavailable(at, `only server variables named ${this.o.prefix}* may be read, not ${name}`);
    const v = this.o.env[name];
    if (v === undefined || v === '') throw unavailable(at, `the slipway server's environment has no ${name}; start the server with it set`);
    return v;
  }

  async pin(spec: { provider: 'env'; name: string }, at: SecretAt) {
    return { provider: 'env' as const, name: spec.name, fingerprint: this.o.cipher.fingerprint(this.value(spec.name, at)) };
  }

  async read(pinned: { name: string }, at: SecretAt): Promise<string> {
    return this.value(pinned.name, at);
  }
}

/** slipway's own store: AES-256-GCM ciphertexts in state.db, one row per version. */
export class StoreSecretProvider {
  constructor(private readonly o: { configs: ConfigStore; cipher: SecretCipher }) {}

  async read(pinned: { version: number }, at: SecretAt): Promise<string> {
    const row = this.o.configs.getSecret(at.env, at.name, pinned.version);
    if (!row) throw unavailable(at, `version ${pinned.version} is not in the store (state.db)`);
    return this.o.cipher.decrypt(row.ciphertext, { env: at.env, name: at.name, version: pinned.version }, row.keyId);
  }
}
