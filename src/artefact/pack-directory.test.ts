import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { list } from 'tar';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256File } from './digest.ts';
import { packDirectory } from './pack-directory.ts';
import { unpackArtefact } from './unpack-artefact.ts';

let work: string;

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'slipway-pack-test-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

async function writeTree(root: string, files: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), content);
  }
}

async function listEntries(file: string): Promise<Array<{ path: string; mode: number; type: string; uid: number; mtime: number }>> {
  const seen: Array<{ path: string; mode: number; type: string; uid: number; mtime: number }> = [];
  await list({
    file,
    onReadEntry: (e) =>
      seen.push({ path: e.path, mode: e.mode ?? -1, type: e.type, uid: e.uid ?? -1, mtime: e.mtime?.getTime() ?? -1 }),
  });
  return seen;
}

const SERVICE = {
  'server.js': 'console.log("hi")\n',
  'package.json': '{"name":"svc"}\n',
  'lib/util.js': 'export const x = 1;\n',
  'bin/start': '#!/bin/sh\nexec node server.js\n',
};

describe('packDirectory', () => {
  it('gives the same bytes and digest for the same content, whatever the mtimes and umask bits', async () => {
    const a = join(work, 'a');
    const b = join(work, 'b');
    await writeTree(a, SERVICE);
    await writeTree(b, SERVICE);
    await chmod(join(a, 'bin/start'), 0o755);
    await chmod(join(b, 'bin/start'), 0o775); // a different umask, same exec bit
    await chmod(join(b, 'server.js'), 0o664);
    await utimes(join(b, 'server.js'), new Date('2001-02-03'), new Date('2001-02-03'));

    const first = await packDirectory({ dir: a, outFile: join(work, 'a1.tar.gz') });
    const again = await packDirectory({ dir: a, outFile: join(work, 'a2.tar.gz') });
    const other = await packDirectory({ dir: b, outFile: join(work, 'b.tar.gz') });

    expect(first.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(again.digest).toBe(first.digest);
    expect(other.digest).toBe(first.digest);
    expect(await readFile(other.file)).toEqual(await readFile(first.file));
    expect(await sha256File(first.file)).toBe(first.digest);
    expect(first.bytes).toBe((await stat(first.file)).size);
    expect(first.fileCount).toBe(4);
  });

  it('gives a different digest when one byte of one file changes', async () => {
    const dir = join(work, 'svc');
    await writeTree(dir, SERVICE);
    const before = await packDirectory({ dir, outFile: join(work, '1.tar.gz') });
    await writeFile(join(dir, 'lib/util.js'), 'export const x = 2;\n');
    const after = await packDirectory({ dir, outFile: join(work, '2.tar.gz') });
    expect(after.digest).not.toBe(before.digest);
  });

  it('gives a different digest when only the exec bit changes', async () => {
    const dir = join(work, 'svc');
    await writeTree(dir, SERVICE);
    const before = await packDirectory({ dir, outFile: join(work, '1.tar.gz') });
    await chmod(join(dir, 'server.js'), 0o755);
    const after = await packDirectory({ dir, outFile: join(work, '2.tar.gz') });
    expect(after.digest).not.toBe(before.digest);
  });

  it('writes sorted entries with fixed owner, mtime and 0644/0755 modes', async () => {
    const dir = join(work, 'svc');
    await writeTree(dir, { 'z.txt': 'z', 'a.txt': 'a', 'm/secret.txt': 's', 'm/run': 'r' });
    await chmod(join(dir, 'm/secret.txt'), 0o600);
    await chmod(join(dir, 'm/run'), 0o700);
    const packed = await packDirectory({ dir, outFile: join(work, 'o.tar.gz') });
    const entries = await listEntries(packed.file);
    expect(entries.map((e) => [e.path, e.mode.toString(8)])).toEqual([
      ['a.txt', '644'],
      ['m/', '755'],
      ['m/run', '755'],
      ['m/secret.txt', '644'],
      ['z.txt', '644'],
    ]);
    expect(new Set(entries.map((e) => e.uid))).toEqual(new Set([0]));
    expect(new Set(entries.map((e) => e.mtime))).toEqual(new Set([Date.UTC(1980, 0, 1)]));
    // gzip header: no timestamp, a fixed OS byte
    const gz = await readFile(packed.file);
    expect([...gz.subarray(4, 10)]).toEqual([0, 0, 0, 0, gz[8], 255]);
  });

  it('leaves out .git, .slipway and what .slipwayignore lists', async () => {
    const dir = join(work, 'svc');
    await writeTree(dir, {
      ...SERVICE,
      '.git/HEAD': 'ref: refs/heads/main\n',
      '.slipway/state.db': 'x',
      'vendor/sub/.git': 'gitdir: ../../.git/modules/sub\n',
      'node_modules/dep/index.js': 'x',
      'debug.log': 'x',
      'lib/trace.log': 'x',
      'build/out.js': 'x',
      'lib/build/keep.js': 'x',
      '.slipwayignore': '# local only\nnode_modules/\n*.log\n/build\n',
    });
    const packed = await packDirectory({ dir, outFile: join(work, 'o.tar.gz') });
    const paths = (await listEntries(packed.file)).map((e) => e.path);
    expect(paths).toEqual([
      '.slipwayignore',
      'bin/',
      'bin/start',
      'lib/',
      'lib/build/',
      'lib/build/keep.js',
      'lib/util.js',
      'package.json',
      'server.js',
      'vendor/',
      'vendor/sub/',
    ]);
  });

  it('round-trips content, exec bits, empty directories and inside symlinks', async () => {
    const dir = join(work, 'svc');
    await writeTree(dir, { ...SERVICE, 'data/blob.bin': '' });
    await writeFile(join(dir, 'data/blob.bin'), Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251)));
    await chmod(join(dir, 'bin/start'), 0o755);
    await mkdir(join(dir, 'empty'));
    await symlink('../server.js', join(dir, 'lib/entry.js'));
    await symlink('lib', join(dir, 'lib-alias'));

    const packed = await packDirectory({ dir, outFile: join(work, 'o.tar.gz') });
    const out = join(work, 'release');
    const unpacked = await unpackArtefact({ file: packed.file, targetDir: out, expectedDigest: packed.digest });

    expect(unpacked.fileCount).toBe(packed.fileCount);
    for (const path of [...Object.keys(SERVICE), 'data/blob.bin']) {
      expect(await readFile(join(out, path))).toEqual(await readFile(join(dir, path)));
    }
    expect((await stat(join(out, 'bin/start'))).mode & 0o111).toBe(0o111);
    expect((await stat(join(out, 'server.js'))).mode & 0o111).toBe(0);
    expect(await readdir(join(out, 'empty'))).toEqual([]);
    expect(await readFile(join(out, 'lib/entry.js'), 'utf8')).toBe(SERVICE['server.js']);
    expect(await readFile(join(out, 'lib-alias/util.js'), 'utf8')).toBe(SERVICE['lib/util.js']);
  });

  it.each([
    ['an absolute symlink', '/etc', 'etc-link'],
    ['a symlink that climbs out', '../../outside', 'lib/out'],
  ])('refuses %s with E_UNSAFE_PATH naming the link', async (_name, target, link) => {
    const dir = join(work, 'svc');
    await writeTree(dir, SERVICE);
    await symlink(target, join(dir, link));
    const outFile = join(work, 'o.tar.gz');
    await expect(packDirectory({ dir, outFile })).rejects.toMatchObject({
      code: 'E_UNSAFE_PATH',
      message: expect.stringContaining(link),
    });
    await expect(stat(outFile)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses a directory with nothing to pack', async () => {
    const dir = join(work, 'svc');
    await writeTree(dir, { '.git/HEAD': 'x', '.slipway/state.db': 'x' });
    await mkdir(join(dir, 'only-dirs/deeper'), { recursive: true });
    await expect(packDirectory({ dir, outFile: join(work, 'o.tar.gz') })).rejects.toMatchObject({
      code: 'E_ARTEFACT_INVALID',
      message: expect.stringContaining('nothing to pack'),
    });
  });

  it('refuses a tree over the size limit, saying how to fix it', async () => {
    const dir = join(work, 'svc');
    await writeTree(dir, { 'a.bin': 'x'.repeat(600), 'b.bin': 'x'.repeat(600) });
    await expect(packDirectory({ dir, outFile: join(work, 'o.tar.gz'), maxBytes: 1000 })).rejects.toMatchObject({
      code: 'E_ARTEFACT_INVALID',
      message: expect.stringContaining('.slipwayignore'),
    });
  });

  it('refuses a FIFO, naming it', async () => {
    const dir = join(work, 'svc');
    await writeTree(dir, SERVICE);
    execFileSync('mkfifo', [join(dir, 'pipe')]);
    await expect(packDirectory({ dir, outFile: join(work, 'o.tar.gz') })).rejects.toMatchObject({
      code: 'E_ARTEFACT_INVALID',
      message: expect.stringContaining('"pipe"'),
    });
  });

  it('does not pack its own output when it is written inside the directory', async () => {
    const dir = join(work, 'svc');
    await writeTree(dir, SERVICE);
    const first = await packDirectory({ dir, outFile: join(dir, 'out.tar.gz') });
    const second = await packDirectory({ dir, outFile: join(dir, 'out.tar.gz') });
    expect(second.digest).toBe(first.digest);
  });

  it('writes to a fresh temporary file when no outFile is given', async () => {
    const dir = join(work, 'svc');
    await writeTree(dir, SERVICE);
    const packed = await packDirectory({ dir });
    try {
      expect(await sha256File(packed.file)).toBe(packed.digest);
    } finally {
      await rm(join(packed.file, '..'), { recursive: true, force: true });
    }
  });
});
