// The README's first command, as a test: `slipway demo --once` deploys the example
// to staging and production, rolls v2 out under load, and reports 0 failed requests.

import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BIN, REPO } from './support/harness.ts';

describe('slipway demo --once', () => {
  it('deploys v1 then v2 to staging and production with 0 failed requests and cleans up', async () => {
    const child = spawn(process.execPath, [BIN, 'demo', '--once'], { cwd: REPO, env: { ...process.env, NO_COLOR: '1' } });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? -1)));
    expect(code, out).toBe(0);
    expect(out).toMatch(/rollout succeeded: hello\/staging#1 is now stable/);
    expect(out).toMatch(/rollout succeeded: hello\/production#2 is now stable/);
    const summary = [...out.matchAll(/^(staging|production)\s+requests sent (\d+), failed: (\d+)/gm)];
    expect(summary).toHaveLength(2);
    for (const m of summary) {
      expect(Number(m[2])).toBeGreaterThan(100);
      expect(Number(m[3])).toBe(0);
    }
    expect(out).toMatch(/versions seen: 1\.0\.0: \d+, 2\.0\.0: \d+/);
    const workDir = /data in (\S+)\/\.slipway/.exec(out)?.[1];
    expect(workDir).toBeTruthy();
    const { existsSync } = await import('node:fs');
    expect(existsSync(workDir!)).toBe(false);
  }, 120_000);
});
