// The digest remembered for a tree is the one a full pack of that tree gives, and
// any change a stat can see (content of the same size with its mtime put back, a new
// file, a mode) makes the tree packed again.

import { chmodSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { packDirectory, packScanned, scanDirectory } from './pack-directory.ts';
import { knownDigest, rememberPack } from './pack-cache.ts';

describe('the remembered digest of a packed tree', () => {
  let dir: string;
  let out: string;
  // The slack for coarse timestamps is a minute of real time; these trees were just written.
  const later = () => Date.now() + 60_000;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'slipway-pack-cache-'));
    out = mkdtempSync(join(tmpdir(), 'slipway-pack-cache-out-'));
    writeFileSync(join(dir, 'server.js'), 'console.log("v1")\n');
    writeFileSync(join(dir, 'data.txt'), 'aaaa');
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  });

  async function packAndRemember(): Promise<string> {
    const tree = await scanDirectory({ dir });
    const packed = await packScanned(tree, join(out, `a-${Date.now()}-${Math.random()}.tar.gz`));
    expect(rememberPack(tree, packed, later())).toBe(true);
    return packed.digest;
  }

  it('is the digest a full pack of the same tree gives', async () => {
    const digest = await packAndRemember();
    const known = knownDigest(await scanDirectory({ dir }));
    expect(known?.digest).toBe(digest);
    const full = await packDirectory({ dir, outFile: join(out, 'full.tar.gz') });
    expect(full.digest).toBe(digest);
    expect(known?.fileCount).toBe(2);
  });

  it('is forgotten when a file changes, even to the same size with its mtime put back', async () => {
    const digest = await packAndRemember();
    const file = join(dir, 'data.txt');
    const before = statSync(file);
    writeFileSync(file, 'bbbb');
    utimesSync(file, before.atime, before.mtime);
    const tree = await scanDirectory({ dir });
    expect(knownDigest(tree)).toBeNull();
    const repacked = await packScanned(tree, join(out, 'b.tar.gz'));
    expect(repacked.digest).not.toBe(digest);
    expect((await packDirectory({ dir, outFile: join(out, 'c.tar.gz') })).digest).toBe(repacked.digest);
  });

  it('is forgotten when a file is added or its mode changes', async () => {
    await packAndRemember();
    writeFileSync(join(dir, 'new.txt'), 'x');
    expect(knownDigest(await scanDirectory({ dir }))).toBeNull();
    await packAndRemember();
    chmodSync(join(dir, 'server.js'), 0o755);
    expect(knownDigest(await scanDirectory({ dir }))).toBeNull();
  });

  it('is not remembered for a tree changed within the timestamp slack (a change may not show yet)', async () => {
    const tree = await scanDirectory({ dir });
    const packed = await packScanned(tree, join(out, 'd.tar.gz'));
    expect(rememberPack(tree, packed)).toBe(false);
    expect(knownDigest(await scanDirectory({ dir }))).toBeNull();
  });

  it('stays out of the artefact: the cache file does not change the tree it describes', async () => {
    const digest = await packAndRemember();
    expect(knownDigest(await scanDirectory({ dir }))?.digest).toBe(digest);
  });
});
