// Names and labels of the objects slipway puts on a cluster. Every object of an
// environment carries the service and environment labels, and every per-release
// object the release label too, so that slipway finds its own objects by selector
// and never touches anything else in the namespace.

import { createHash } from 'node:crypto';

export const FIELD_MANAGER = 'slipway';

export const LABELS = {
  service: 'slipway.dev/service',
  environment: 'slipway.dev/environment',
  release: 'slipway.dev/release',
  managedBy: 'app.kubernetes.io/managed-by',
  name: 'app.kubernetes.io/name',
} as const;

export interface EnvironmentRef {
  service: string;
  environment: string;
}

/**
 * A DNS-1035 label of at most 63 characters: a Service name must be one. Names that
 * would be longer keep their start and end in a hash, so two long names stay apart.
 */
export function dnsName(...parts: string[]): string {
  const whole = parts.join('-');
  if (whole.length <= 63) return whole;
  const hash = createHash('sha256').update(whole).digest('hex').slice(0, 8);
  return `${whole.slice(0, 63 - 9).replace(/-+$/, '')}-${hash}`;
}

export function environmentName(ref: EnvironmentRef): string {
  return dnsName(ref.service, ref.environment);
}

export function releaseName(ref: EnvironmentRef, release: number): string {
  return dnsName(ref.service, ref.environment, `r${release}`);
}

export function secretName(ref: EnvironmentRef, release: number): string {
  return dnsName(ref.service, ref.environment, `r${release}`, 'secrets');
}

export function environmentLabels(ref: EnvironmentRef): Record<string, string> {
  return {
    [LABELS.name]: ref.service,
    [LABELS.managedBy]: FIELD_MANAGER,
    [LABELS.service]: ref.service,
    [LABELS.environment]: ref.environment,
  };
}

export function releaseLabels(ref: EnvironmentRef, release: number): Record<string, string> {
  return { ...environmentLabels(ref), [LABELS.release]: String(release) };
}

/** The label selector (as a query string) for every object slipway made for an environment. */
export function environmentSelector(ref: EnvironmentRef): string {
  return `${LABELS.service}=${ref.service},${LABELS.environment}=${ref.environment}`;
}

export function releaseSelector(ref: EnvironmentRef, release: number): string {
  return `${environmentSelector(ref)},${LABELS.release}=${release}`;
}
