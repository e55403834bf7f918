// `slipway render`: the objects one release of an environment needs, as YAML for
// review or for a GitOps repository. Made from slipway.yaml alone; no server and no
// cluster are asked. Secrets are referred to by name and never printed.

import { stringify } from 'yaml';
import { SlipwayError } from '../../core/errors.ts';
import type { ServiceConfig } from '../../core/service-config.ts';
import { assertValidObjects } from './manifest-schema.ts';
import { desiredObjects, type ClusterObject, type ClusterState } from './manifests.ts';
import { secretName } from './names.ts';

export interface RenderOptions {
  env: string;
  /** The release number the objects are named after. */
  release: number;
  /** sha256:... of the artefact, for an image template that names {artefact}. */
  artefactDigest: string | null;
}

export interface Rendered {
  objects: ClusterObject[];
  /** Secrets the pods refer to, which must exist on the cluster: name → keys. */
  requiredSecrets: { name: string; keys: string[] }[];
}

/** The state of the environment once the release runs at full size with all the traffic. */
export function renderRelease(config: ServiceConfig, o: RenderOptions): Rendered {
  const env = config.environments[o.env];
  if (env === undefined) {
    throw new SlipwayError('E_ENV_UNKNOWN', `no environment "${o.env}" in slipway.yaml; it has ${Object.keys(config.environments).join(', ')}`);
  }
  if (env.kubernetes === undefined) {
    throw new SlipwayError('E_CONFIG_INVALID', `environment "${o.env}" has no kubernetes: section; add one with at least namespace and image (see docs/kubernetes.md)`);
  }
  const ref = { service: config.service, environment: o.env };
  const release = { id: o.release, number: o.release, artefactDigest: o.artefactDigest, plain: { ...env.config }, secretNames: Object.keys(env.secrets) };
  const state: ClusterState = {
    ref,
    settings: env.kubernetes,
    pod: { portEnv: config.run.portEnv, health: config.health, shutdown: config.shutdown },
    releases: [release],
    replicas: { [release.id]: env.instances },
    weights: { [release.id]: 100 },
  };
  const objects = desiredObjects(state);
  assertValidObjects(objects);
  const requiredSecrets = release.secretNames.length > 0 ? [{ name: secretName(ref, o.release), keys: [...release.secretNames].sort() }] : [];
  return { objects, requiredSecrets };
}

/** Multi-document YAML, with a comment naming the Secrets that must exist. */
export function formatRenderedYaml(r: Rendered): string {
  const head = r.requiredSecrets.map((s) => `# needs Secret ${s.name} with keys ${s.keys.join(', ')} (slipway prints no secret value)\n`).join('');
  return head + r.objects.map((o) => `---\n${stringify(o, { lineWidth: 0, aliasDuplicateObjects: false })}`).join('');
}
