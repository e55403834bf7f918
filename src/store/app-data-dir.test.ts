import { describe, expect, it } from 'vitest';
import { appDataDir } from './app-data-dir.ts';

describe('appDataDir', () => {
  it('is one directory per service and environment under app-data/', () => {
    expect(appDataDir('/var/lib/slipway', 'shop', 'production')).toBe('/var/lib/slipway/app-data/shop/production');
    expect(appDataDir('/var/lib/slipway', 'blog', 'production')).not.toBe(appDataDir('/var/lib/slipway', 'shop', 'production'));
  });

  it.each([['..', 'production'], ['shop', '../keys'], ['shop', 'a/b'], ['', 'production'], ['shop', '.hidden']])('refuses %j / %j', (service, env) => {
    expect(() => appDataDir('/d', service, env)).toThrow(/cannot name a data directory/);
  });
});
