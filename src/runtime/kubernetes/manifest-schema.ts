// Checks generated objects against the official Kubernetes schemas (the
// kubernetes-models packages, generated from the API's OpenAPI and the Gateway API
// CRDs) before anything is sent or printed: what the cluster would refuse, slipway
// refuses first, with the object and the field named.

import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { HTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import { SlipwayError } from '../../core/errors.ts';
import type { ClusterObject } from './manifests.ts';

type Validator = (o: ClusterObject) => void;

const VALIDATORS: Record<string, Validator> = {
  'apps/v1/Deployment': (o) => new Deployment(o as never).validate(),
  'v1/Service': (o) => new Service(o as never).validate(),
  'v1/Secret': (o) => new Secret(o as never).validate(),
  'gateway.networking.k8s.io/v1/HTTPRoute': (o) => new HTTPRoute(o as never).validate(),
};

/** The problems of one object, as the schema states them; empty when it is valid. */
export function schemaProblems(o: ClusterObject): string[] {
  const validate = VALIDATORS[`${o.apiVersion}/${o.kind}`];
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
