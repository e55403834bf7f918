// Releases made from config: the release config a deploy of slipway.yaml makes
// (its part of the file, the newest config version, external secrets pinned),
// what a deploy would change, and a change of config or secrets alone released
// as a new release of the stable release's artefact.

import { createHash } from 'node:crypto';
import { SlipwayError } from '../core/errors.ts';
import { envNameOf, isEnvKey } from '../core/env-key.ts';
import type { ConfigVersionRecord, PinnedSecret, ReleaseConfig, ReleaseRecord } from '../core/records.ts';
import type { Rollout, RolloutKind } from '../core/rollout.ts';
import type { EnvironmentSpec, ExternalSecretSpec, ServiceConfig } from '../core/service-config.ts';
import type { StateStore } from '../store/state-store.ts';
import { pinMatches, type ConfigChange, type ConfigVersions } from './config-versions.ts';
import { describeDeployPlan, type DeployPlan } from './deploy-plan.ts';
import type { PolicyGateCheck } from './deploy-gates.ts';
import type { Clock } from './ports.ts';

export interface ConfigChangeRequest {
  env: string;
  change: ConfigChange;
  actor: string;
  /** false: record the version only; it reaches instances with the next deploy or config change. */
  rollout: boolean;
  /** The environment may be one the server has never seen (the client found it in slipway.yaml). */
  allowNew: boolean;
}

export interface ConfigChangeAnswer {
  /** The version recorded (the newest one when the change changed nothing). */
  version: ConfigVersionRecord | null;
  release: ReleaseRecord | null;
  rollout: Rollout | null;
  unchanged: boolean;
}

export interface ConfigReleasesDeps {
  store: StateStore;
  configs: ConfigVersions;
  clock: Clock;
  /** Throws E_ENV_LOCKED while a rollout holds the environment. */
  assertUnlocked(env: string): void;
  /** Throws E_LISTEN_CONFLICT when the release's listen addresses are held by something else (listen-guard.ts). */
  assertListenAvailable(env: string, environment: ReleaseConfig['environment']): Promise<void>;
  /** Throws E_POLICY_DENIED when the settings go beyond the admin's policy (deploy-gates.ts PolicyGate). */
  assertWithinPolicy(c: PolicyGateCheck): Promise<void>;
  createRollout(opts: { release: ReleaseRecord; kind: RolloutKind; actor: string }): Rollout;
  readyCount(env: string, releaseId: number): number;
}

export function hashConfig(config: ReleaseConfig): string {
  return `sha256:${createHash('sha256').update(canonicalJson(config)).digest('hex')}`;
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

export class ConfigReleases {
  constructor(private readonly deps: ConfigReleasesDeps) {}

  /**
   * The release config a deploy of slipway.yaml to an environment makes. `build`
   * reads the newest config version again (in the deploy's transaction); it is
   * run once here so that a config that cannot be released is refused first.
   */
  async candidate(req: { env: string; config: ServiceConfig; readSecrets?: boolean }): Promise<() => ReleaseConfig> {
    const { configs } = this.deps;
    const envSpec = req.config.environments[envNameOf(req.env)];
    if (!envSpec) {
      throw new SlipwayError('E_ENV_UNKNOWN', `slipway.yaml has no environment "${envNameOf(req.env)}"; it has: ${Object.keys(req.config.environments).join(', ')}`, { env: req.env });
    }
    const readSecrets = req.readSecrets ?? true;
    // Before any secret is read: a reference outside the environment's scope is never followed.
    await this.deps.assertWithinPolicy({ env: req.env, environment: envSpec, lookUp: readSecrets });
    const { environments: _all, pipeline: _pipeline, ...service } = req.config;
    const storeNames = Object.keys(configs.latest(req.env)?.secrets ?? {});
    const externalPins = readSecrets
      ? await configs.pinExternal(req.env, envSpec.secrets, storeNames)
      : unreadPins(envSpec.secrets, storeNames, configs.stable(req.env)?.config.secrets ?? {});
    const build = () => configs.assemble({ service, environment: envSpec, version: configs.latest(req.env), externalPins });
    build();
    return build;
  }

  /** readSecrets false: nothing is read from a secret's provider (a viewer's plan); secrets show as referenced. */
  async plan(req: { env: string; artefactDigest: string; config: ServiceConfig; readSecrets: boolean }): Promise<DeployPlan> {
    const config = (await this.candidate(req))();
    const stable = this.deps.configs.stable(req.env);
    const stableReady = stable ? this.deps.readyCount(req.env, stable.id) : 0;
    return describeDeployPlan({ env: req.env, stable, stableReady, artefactDigest: req.artefactDigest, config, configHash: hashConfig(config) });
  }

  isKnownEnvironment(env: string): boolean {
    return this.deps.store.listEnvironmentNames().includes(env) || this.deps.configs.latest(env) !== null;
  }

  /**
   * Recorded as the environment's next config version; with `rollout` (and a
   * stable release to build on) it becomes a new release of the stable release's
   * artefact, rolled out by the environment's strategy like any deploy. Either all
   * of it is recorded, or (refused) nothing.
   */
  async change(req: ConfigChangeRequest): Promise<ConfigChangeAnswer> {
    const { store, configs } = this.deps;
    if (!isEnvKey(req.env) && !this.isKnownEnvironment(req.env)) {
      throw new SlipwayError('E_ENV_UNKNOWN', `no service has an environment "${req.env}" yet; name the service's environment (e.g. shop/${req.env}), or run the command beside the slipway.yaml that defines it`, { env: req.env });
    }
    if (!req.allowNew && !this.isKnownEnvironment(req.env)) {
      throw new SlipwayError('E_ENV_UNKNOWN', `nothing has been deployed to "${req.env}" and it has no config yet; check the name, or run the command beside the slipway.yaml that defines it`, { env: req.env });
    }
    const latest = configs.latest(req.env);
    const planned = configs.plan(req.env, req.change);
    if (!planned) return { version: latest, release: null, rollout: null, unchanged: true };
    const stable = req.rollout ? configs.stable(req.env) : null;
    if (stable) this.deps.assertUnlocked(req.env);
    // The stable release's settings go out again: today's policy decides, as for a deploy.
    if (stable) await this.deps.assertWithinPolicy({ env: req.env, environment: stable.config.environment, subject: `config rollout of ${req.env}#${stable.number}`, lookUp: true });
    if (stable) await this.deps.assertListenAvailable(req.env, stable.config.environment);
    // Pinned before the transaction (it may ask Vault); the stable release's pins are kept.
    const externalPins = stable
      ? await configs.pinExternal(req.env, stable.config.environment.secrets, Object.keys(planned.secrets), stable.config.secrets)
      : {};
    return store.atomically(() => {
      if (configs.latest(req.env)?.number !== latest?.number) {
        throw new SlipwayError('E_ENV_LOCKED', `the config of ${req.env} changed while this change was prepared; run it again`, { env: req.env });
      }
      if (stable) this.deps.assertUnlocked(req.env);
      const version = configs.write(req.env, planned, req.change, req.actor);
      if (!stable) return { version, release: null, rollout: null, unchanged: false };
      const { environment, configVersion: _v, overrides: _o, secrets: _s, ...service } = stable.config;
      const config = configs.assemble({ service, environment, version, externalPins });
      const release = store.insertRelease({
        env: req.env, service: stable.service, artefactDigest: stable.artefactDigest, config, configHash: hashConfig(config), dir: stable.dir,
        imageId: stable.imageId, createdAt: this.deps.clock.now(), createdBy: req.actor,
      });
      return { version, release, rollout: this.deps.createRollout({ release, kind: 'config', actor: req.actor }), unchanged: false };
    });
  }
}

/**
 * Pins made without asking any provider, for a plan that may not read secrets: the
 * stable release's pin where it is of the same secret, else the reference alone.
 */
function unreadPins(specs: EnvironmentSpec['secrets'], storeNames: string[], stable: Record<string, PinnedSecret>): Record<string, PinnedSecret> {
  const pins: Record<string, PinnedSecret> = {};
  for (const [name, spec] of Object.entries(specs)) {
    if (storeNames.includes(name)) continue;
    const old = stable[name];
    pins[name] = old && pinMatches(old, spec) ? old : unreadPin(spec);
  }
  return pins;
}

function unreadPin(spec: ExternalSecretSpec): PinnedSecret {
  switch (spec.provider) {
    case 'vault':
      return { ...spec, version: 0 };
    case 'file':
      return { ...spec, fingerprint: 'not read' };
    case 'env':
      return { ...spec, fingerprint: 'not read' };
  }
}
