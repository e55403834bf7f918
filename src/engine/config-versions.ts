// An environment's config versions: the changes made through the CLI or API
// (config set/unset, secret set/rm), each recorded as the next version, and the
// release configs built from slipway.yaml plus the newest version.
//
// Precedence: for one environment, what is set through the CLI wins over what
// slipway.yaml says, for plain values and secrets alike. "slipway.yaml" here is the
// file as the environment's stable release was deployed with it.

import { SlipwayError } from '../core/errors.ts';
import { configView, describeExternalSecret, type ConfigView } from '../core/config-view.ts';
import type { ConfigVersionRecord, PinnedSecret, ReleaseConfig, ReleaseRecord } from '../core/records.ts';
import type { EnvironmentSpec, ExternalSecretSpec, ServiceConfig } from '../core/service-config.ts';
import type { Secrets } from '../security/secrets.ts';
import type { StateStore } from '../store/state-store.ts';
import type { Clock } from './ports.ts';

export type ConfigChange =
  | { type: 'set'; values: Record<string, string> }
  | { type: 'unset'; keys: string[] }
  | { type: 'secret-set'; name: string; value: string }
  | { type: 'secret-rm'; name: string };

/** The contents of the version a change would make. */
export interface PlannedVersion {
  values: Record<string, string>;
  /** Stored secrets: name → version; `null` for the one this change stores. */
  secrets: Record<string, number | null>;
  change: string;
}

export interface SecretListing {
  name: string;
  provider: PinnedSecret['provider'];
  /** Current version in slipway's store (null for external secrets). */
  version: number | null;
  versions: number;
  reference: string;
  setBy: string | null;
  setAt: number | null;
  /** How the stable release has it ("store v2"), or null when it does not have it yet. */
  inStable: string | null;
}

/** Names slipway sets itself; a value set for one would be overwritten or would break the instance. */
function reservedName(name: string, portEnv: string): string | null {
  if (name === portEnv) return `${name} is set by slipway to each instance's port (run.port_env)`;
  if (name.startsWith('SLIPWAY_')) return `names starting with SLIPWAY_ are slipway's own (SLIPWAY_ENV, SLIPWAY_RELEASE, ...)`;
  return null;
}

/** Whether a release's pin is of the secret slipway.yaml names now (same provider and place). */
export function pinMatches(pin: PinnedSecret, spec: ExternalSecretSpec): boolean {
  switch (spec.provider) {
    case 'vault':
      return pin.provider === 'vault' && pin.mount === spec.mount && pin.path === spec.path && pin.key === spec.key;
    case 'file':
      return pin.provider === 'file' && pin.path === spec.path;
    case 'env':
      return pin.provider === 'env' && pin.name === spec.name;
  }
}

export class ConfigVersions {
  constructor(private readonly deps: { store: StateStore; secrets: Secrets; clock: Clock }) {}

  latest(env: string): ConfigVersionRecord | null {
    return this.deps.store.configs.latestVersion(env);
  }

  stable(env: string): ReleaseRecord | null {
    const id = this.deps.store.getStableReleaseId(env);
    return id === null ? null : this.deps.store.getRelease(id);
  }

  /** What the environment's next release would get, key by key, with where each comes from. */
  view(env: string): ConfigView {
    const stable = this.stable(env);
    const v = this.latest(env);
    const fingerprints = new Map(this.deps.store.configs.listSecrets(env).map((s) => [`${s.name}#${s.version}`, s.fingerprint]));
    return configView({
      yamlConfig: stable?.config.environment.config ?? {},
      yamlSecrets: stable?.config.environment.secrets ?? {},
      overrides: v?.values ?? {},
      storeSecrets: Object.fromEntries(Object.entries(v?.secrets ?? {}).map(([name, version]) => [name, { version, fingerprint: fingerprints.get(`${name}#${version}`) ?? '' }])),
    });
  }

  /**
   * What a change would record, or null when it would change nothing. Refuses
   * (E_BAD_REQUEST, E_NOT_FOUND) a change that cannot apply; refusing writes nothing.
   */
  plan(env: string, change: ConfigChange): PlannedVersion | null {
    const stable = this.stable(env);
    const portEnv = stable?.config.run.portEnv ?? 'PORT';
    const yaml: Pick<EnvironmentSpec, 'config' | 'secrets'> = stable?.config.environment ?? { config: {}, secrets: {} };
    const v = this.latest(env);
    const values = { ...(v?.values ?? {}) };
    const secrets: Record<string, number | null> = { ...(v?.secrets ?? {}) };
    const refuse = (message: string, code: 'E_BAD_REQUEST' | 'E_NOT_FOUND' = 'E_BAD_REQUEST') => new SlipwayError(code, message, { env });
    const isSecret = (k: string) => Object.hasOwn(secrets, k) || Object.hasOwn(yaml.secrets, k);
    switch (change.type) {
      case 'set': {
        for (const key of Object.keys(change.values)) {
          const reserved = reservedName(key, portEnv);
          if (reserved) throw refuse(`cannot set ${key}: ${reserved}`);
          if (isSecret(key)) throw refuse(`${key} is a secret of ${env}; a name holds a plain value or a secret, not both (remove the secret first with \`slipway secret rm ${env} ${key}\`)`);
        }
        if (Object.entries(change.values).every(([k, val]) => values[k] === val)) return null;
        Object.assign(values, change.values);
        return { values, secrets, change: `set ${Object.keys(change.values).sort().join(', ')}` };
      }
      case 'unset': {
        for (const key of change.keys) {
          if (Object.hasOwn(values, key)) continue;
          if (Object.hasOwn(yaml.config, key)) throw refuse(`${key} comes from slipway.yaml for ${env}; remove it there and deploy`);
          throw refuse(`${key} is not set for ${env}${isSecret(key) ? ` as a plain value (it is a secret: \`slipway secret rm ${env} ${key}\`)` : ''}`, 'E_NOT_FOUND');
        }
        for (const key of change.keys) delete values[key];
        return { values, secrets, change: `unset ${[...change.keys].sort().join(', ')}` };
      }
      case 'secret-set': {
        const reserved = reservedName(change.name, portEnv);
        if (reserved) throw refuse(`cannot set secret ${change.name}: ${reserved}`);
        if (Object.hasOwn(values, change.name) || Object.hasOwn(yaml.config, change.name)) {
          throw refuse(`${change.name} is a plain config value of ${env}; a name holds a plain value or a secret, not both (${Object.hasOwn(values, change.name) ? `\`slipway config unset ${env} ${change.name}\` first` : 'remove it from slipway.yaml first'})`);
        }
        secrets[change.name] = null;
        return { values, secrets, change: `secret set ${change.name}` };
      }
      case 'secret-rm': {
        if (!Object.hasOwn(secrets, change.name)) {
          if (Object.hasOwn(yaml.secrets, change.name)) throw refuse(`secret ${change.name} of ${env} comes from slipway.yaml (${describeExternalSecret(yaml.secrets[change.name]!)}); remove it there and deploy`);
          throw refuse(`${env} has no secret ${change.name} in slipway's store`, 'E_NOT_FOUND');
        }
        delete secrets[change.name];
        return { values, secrets, change: `secret rm ${change.name}` };
      }
    }
  }

  /** Records a planned version (encrypting the new secret value, if any). Call it inside a transaction. */
  write(env: string, planned: PlannedVersion, change: ConfigChange, actor: string): ConfigVersionRecord {
    const now = this.deps.clock.now();
    const secrets: Record<string, number> = {};
    for (const [name, version] of Object.entries(planned.secrets)) {
      if (version !== null) secrets[name] = version;
      else if (change.type === 'secret-set') secrets[name] = this.deps.secrets.storeValue({ env, name }, change.value, actor, now).version;
    }
    return this.deps.store.configs.insertVersion({ env, values: planned.values, secrets, change: planned.change, createdAt: now, createdBy: actor });
  }

  /**
   * Pins the external secrets slipway.yaml declares for an environment, except
   * those the store overrides. A pin in `reuse` (the stable release's) is kept as
   * it is, so a config change does not also move a Vault secret to a newer version.
   */
  async pinExternal(env: string, specs: EnvironmentSpec['secrets'], storeNames: string[], reuse: Record<string, PinnedSecret> = {}): Promise<Record<string, PinnedSecret>> {
    const pins: Record<string, PinnedSecret> = {};
    const toPin: EnvironmentSpec['secrets'] = {};
    for (const [name, spec] of Object.entries(specs)) {
      if (storeNames.includes(name)) continue;
      const old = reuse[name];
      if (old && pinMatches(old, spec)) pins[name] = old;
      else toPin[name] = spec;
    }
    return { ...pins, ...(await this.deps.secrets.pinExternal(env, toPin)) };
  }

  /** A release's config: slipway.yaml's parts, the newest config version, and every secret pinned. */
  assemble(o: { service: Omit<ServiceConfig, 'environments'>; environment: EnvironmentSpec; version: ConfigVersionRecord | null; externalPins: Record<string, PinnedSecret> }): ReleaseConfig {
    const { environment: e, version } = o;
    const secrets: Record<string, PinnedSecret> = { ...o.externalPins };
    for (const [name, v] of Object.entries(version?.secrets ?? {})) secrets[name] = { provider: 'store', version: v };
    const overrides = version?.values ?? {};
    const problems: string[] = [];
    for (const name of Object.keys(secrets)) {
      if (Object.hasOwn(e.config, name) || Object.hasOwn(overrides, name)) problems.push(`${name} is a plain config value and also a secret of ${e.name}; remove it from config in slipway.yaml (or \`slipway secret rm ${e.name} ${name}\`)`);
    }
    for (const name of [...Object.keys(overrides), ...Object.keys(secrets)]) {
      const reserved = reservedName(name, o.service.run.portEnv);
      if (reserved) problems.push(`${name}, set for ${e.name} through the CLI, clashes with slipway.yaml: ${reserved}; \`slipway config unset ${e.name} ${name}\``);
    }
    if (problems.length) throw new SlipwayError('E_CONFIG_INVALID', problems.join('\n'), { env: e.name });
    return { ...o.service, environment: e, configVersion: version?.number ?? null, overrides, secrets };
  }

  /** Names, versions, and who set them when; never values. */
  listSecrets(env: string): SecretListing[] {
    const stable = this.stable(env);
    const v = this.latest(env);
    const stored = this.deps.store.configs.listSecrets(env);
    const describeStable = (name: string) => {
      const p = stable?.config.secrets[name];
      if (!p) return null;
      return p.provider === 'store' ? `store v${p.version}` : p.provider === 'vault' ? `vault v${p.version}` : p.provider;
    };
    const out: SecretListing[] = [];
    for (const [name, spec] of Object.entries(stable?.config.environment.secrets ?? {})) {
      if (v && Object.hasOwn(v.secrets, name)) continue;
      out.push({ name, provider: spec.provider, version: null, versions: 0, reference: describeExternalSecret(spec), setBy: null, setAt: null, inStable: describeStable(name) });
    }
    for (const [name, version] of Object.entries(v?.secrets ?? {})) {
      const mine = stored.filter((s) => s.name === name);
      const current = mine.find((s) => s.version === version);
      out.push({ name, provider: 'store', version, versions: mine.length, reference: `store v${version}`, setBy: current?.createdBy ?? null, setAt: current?.createdAt ?? null, inStable: describeStable(name) });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : 1));
  }
}
