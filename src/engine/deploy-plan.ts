// `slipway plan`: what a deploy would change, computed the way the deploy would
// make its release, but nothing is recorded and nothing is started.

import { describeStep, planFor } from '../core/plans.ts';
import type { ReleaseConfig, ReleaseRecord } from '../core/records.ts';
import { changedSettings, configKeyChanges, type KeyChange } from '../core/release-changes.ts';
import { describeStrategy } from './status-view.ts';

export interface DeployPlan {
  env: string;
  /** The deploy would find nothing to do (same artefact and same config as the stable release). */
  unchanged: boolean;
  stable: number | null;
  /** onServer: the server holds this artefact already, so a deploy need not upload it (absent from older servers). */
  artefact: { from: string | null; to: string; changed: boolean; onServer?: boolean };
  configVersion: { from: number | null; to: number | null };
  /** Plain keys with their values; secrets by reference and version only. */
  config: KeyChange[];
  instances: { from: number | null; to: number };
  strategy: { from: string | null; to: string };
  /** Other parts of the release's settings that differ: run, health, shutdown, listen, analysis, watch. */
  settings: string[];
  /** The rollout's steps, as `slipway status` would show them. */
  steps: string[];
  /** What was not checked and why (a plan by someone who may not deploy there); absent: everything a deploy checks. */
  limited?: string;
}

export function describeDeployPlan(o: { env: string; stable: ReleaseRecord | null; stableReady: number; artefactDigest: string; config: ReleaseConfig; configHash: string }): DeployPlan {
  const { stable, config } = o;
  const NEW = -1;
  const steps = planFor(config.environment.strategy, {
    stableReleaseId: stable?.id ?? null, stableCount: o.stableReady, newReleaseId: NEW, instances: config.environment.instances,
  });
  const name = (id: number) => (id === NEW ? 'the new release' : `#${stable?.number ?? '?'}`);
  return {
    env: o.env,
    unchanged: stable !== null && stable.artefactDigest === o.artefactDigest && stable.configHash === o.configHash,
    stable: stable?.number ?? null,
    artefact: { from: stable?.artefactDigest ?? null, to: o.artefactDigest, changed: stable?.artefactDigest !== o.artefactDigest },
    configVersion: { from: stable?.config.configVersion ?? null, to: config.configVersion },
    config: configKeyChanges(stable?.config ?? null, config),
    instances: { from: stable?.config.environment.instances ?? null, to: config.environment.instances },
    strategy: { from: stable ? describeStrategy(stable.config.environment.strategy) : null, to: describeStrategy(config.environment.strategy) },
    settings: changedSettings(stable?.config ?? null, config),
    steps: steps.map((s) => describeStep(s, name)),
  };
}
