import { describe, expect, it } from 'vitest';
import { routerCarriesTraffic } from './traffic-path.ts';

describe('routerCarriesTraffic', () => {
  it('the router carries every environment but a kubernetes one whose Gateway splits traffic', () => {
    const k8s = (traffic: 'router' | 'gateway') => ({ runtime: 'kubernetes', kubernetes: { traffic } }) as unknown as Parameters<typeof routerCarriesTraffic>[0];
    expect(routerCarriesTraffic(k8s('gateway'))).toBe(false);
    expect(routerCarriesTraffic(k8s('router'))).toBe(true);
    expect(routerCarriesTraffic({ runtime: 'process', kubernetes: null } as unknown as Parameters<typeof routerCarriesTraffic>[0])).toBe(true);
    expect(routerCarriesTraffic({ runtime: 'kubernetes', kubernetes: null } as unknown as Parameters<typeof routerCarriesTraffic>[0])).toBe(true);
    expect(routerCarriesTraffic({ runtime: 'docker', kubernetes: { traffic: 'gateway' } } as unknown as Parameters<typeof routerCarriesTraffic>[0])).toBe(true);
  });
});
