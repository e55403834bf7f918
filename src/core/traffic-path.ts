// Who carries an environment's requests: slipway's router, unless a cluster's
// Gateway splits the traffic (kubernetes.traffic: gateway), in which case the
// router neither listens for the environment nor counts its requests.

import type { EnvironmentSpec } from './service-config.ts';

export function routerCarriesTraffic(environment: Pick<EnvironmentSpec, 'runtime' | 'kubernetes'>): boolean {
  return !(environment.runtime === 'kubernetes' && environment.kubernetes?.traffic === 'gateway');
}
