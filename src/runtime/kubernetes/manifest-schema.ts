// Checks generated objects against the official Kubernetes schemas (the
// kubernetes-models packages, generated from the API's OpenAPI and the Gateway API
// CRDs) before anything is sent or printed: what the cluster would refuse, slipway
// refuses first, with the object and the field named.
//
// The schema packages are loaded on first use, not with this module: they cost
// every server start ~0.2 s of CPU, and most servers never run on a cluster.

import { createRequire } from 'node:module';
import { SlipwayError } from '../../core/errors.ts';
import type { ClusterObject } from './manifests.ts';

type Validator = (o: ClusterObject) => void;
interface Validating { validate(): void }
/** A kubernetes-models class: built from an object, it validates it against the schema. */
type Model = new (o: never) => Validating;

const require = createRequire(import.meta.url);
const model = (path: string, name: string): Model => (require(path) as Record<string, Model>)[name]!;

const LOADERS: Record<string, () => Model> = {
  'apps/v1/Deployment': () => model('kubernetes-models/apps/v1/Deployment', 'Deployment'),
  'v1/Service': () => model('kubernetes-models/v1/Service', 'Service'),
  'v1/Secret': () => model('kubernetes-models/v1/Secret', 'Secret'),
  'gateway.networking.k8s.io/v1/HTTPRoute': () => model('@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute', 'HTTPRoute'),
};
const validators = new Map<string, Validator>();

function validatorFor(kind: string): Validator | undefined {
  let v = validators.get(kind);
  if (v === undefined && LOADERS[kind] !== undefined) {
    const Model = LOADERS[kind]();
    v = (o) => new Model(o as never).validate();
    validators.set(kind, v);
  }
  return v;
}

/** The problems of one object, as the schema states them; empty when it is valid. */
export function schemaProblems(o: ClusterObject): string[] {
  const validate = validatorFor(`${o.apiVersion}/${o.kind}`);
  if (validate === undefined) return [`no schema known for ${o.apiVersion} ${o.kind}`];
  try {
    validate(o);
    return [];
  } catch (e) {
    return (e as Error).message.split(', ');
  }
}

/** Throws E_CONFIG_INVALID naming every object that the cluster would refuse. */
export function assertValidObjects(objects: ClusterObject[]): void {
  const problems = objects.flatMap((o) => schemaProblems(o).map((p) => `${o.kind} ${o.metadata?.name}: ${p}`));
  if (problems.length > 0) {
    throw new SlipwayError('E_CONFIG_INVALID', `the cluster would refuse these objects:\n${problems.join('\n')}`, { problems });
  }
}
