// What `slipway plan` prints about config versions, without a server.

import { describe, expect, it } from 'vitest';
import type { DeployPlanJson } from '../api/views.ts';
import { formatPlan } from './config-output.ts';

const plain = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

const plan = (configVersion: DeployPlanJson['configVersion']): DeployPlanJson => ({
  env: 'hello/production', unchanged: false, stable: null,
  artefact: { from: null, to: `sha256:${'a'.repeat(64)}`, changed: true },
  configVersion, config: [], instances: { from: null, to: 2 }, strategy: { from: null, to: 'rolling' }, settings: [], steps: [],
});

describe('slipway plan: config versions', () => {
  it('says there is no config version in words, never "v-"', () => {
    const none = plain(formatPlan(plan({ from: null, to: null })));
    expect(none).toContain('config     no config version');
    expect(none).not.toContain('v-');
    expect(plain(formatPlan(plan({ from: null, to: 1 })))).toContain('config     no config version → v1');
    expect(plain(formatPlan(plan({ from: 2, to: 2 })))).toContain('config     v2');
  });
});
