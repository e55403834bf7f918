// A checkout whose git cannot start (gone from PATH, or no process left) fails the
// stage with the reason; before, the spawn's error had no listener and ended the server.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkoutClean } from './git-source.ts';

describe('checkoutClean without git', () => {
  const path = process.env.PATH;
  const dirs: string[] = [];
  afterEach(() => {
    process.env.PATH = path;
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('rejects with what failed, and the process goes on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-checkout-'));
    dirs.push(dir);
    process.env.PATH = join(dir, 'no-such-bin');
    await expect(checkoutClean({ repo: dir, commit: '0'.repeat(40) }, join(dir, 'out'))).rejects.toMatchObject({
      code: 'E_BAD_REQUEST',
      message: expect.stringMatching(/git archive of 0{40} could not start: spawn git ENOENT/),
    });
  });
});
