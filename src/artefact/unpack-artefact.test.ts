import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Header, type HeaderData } from 'tar';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256File } from './digest.ts';
import { packDirectory } from './pack-directory.ts';
import { unpackArtefact } from './unpack-artefact.ts';

interface CraftedEntry {
  path: string;
  type?: HeaderData['type'];
  linkpath?: string;
  body?: string;
  mode?: number;
}

/**
 * Writes tar headers by hand (node-tar's encoder only, none of its path
 * sanitising), so the archive holds exactly the hostile paths we ask for.
 */
function craftTarball(entries: CraftedEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    const header = new Header({
      path: e.path,
      type: e.type ?? 'File',
      linkpath: e.linkpath ?? '',
      size: body.length,
      mode: e.mode ?? (e.type === 'Directory' ? 0o755 : 0o644),
      uid: 0,
      gid: 0,
      mtime: new Date(0),
    });
    header.encode();
    blocks.push(header.block as Buffer, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

let sandbox: string; // holds the artefact and the releases; nothing may appear anywhere else in it
let releases: string;
let target: string;

beforeEach(async () => {
  sandbox = await mkdtemp(join(tmpdir(), 'slipway-unpack-test-'));
  releases = join(sandbox, 'a', 'releases');
  target = join(releases, 'r1');
  await mkdir(releases, { recursive: true });
});
afterEach(async () => {
  await rm(sandbox, { recursive: true, force: true });
});

async function listTree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.map(String).sort();
}

async function writeArtefact(entries: CraftedEntry[]): Promise<string> {
  const file = join(sandbox, 'artefact.tar.gz');
  await writeFile(file, craftTarball(entries));
  return file;
}

const BENIGN: CraftedEntry = { path: 'server.js', body: 'console.log(1)\n' };

describe('unpackArtefact refuses hostile archives', () => {
  it.each<[string, CraftedEntry[], string]>([
    ['a ../ path', [BENIGN, { path: '../evil', body: 'pwned' }], '../evil'],
    ['a deeper ../ path', [{ path: 'ok/../../../evil', body: 'pwned' }], 'ok/../../../evil'],
    ['an absolute path', [BENIGN, { path: '/abs/path', body: 'pwned' }], '/abs/path'],
    ['a symlink to /etc', [BENIGN, { path: 'etc', type: 'SymbolicLink', linkpath: '/etc' }], 'etc'],
    ['a symlink that climbs out', [{ path: 'a', type: 'SymbolicLink', linkpath: '../../x' }], '"a"'],
    [
      'a file written through a symlink to /etc',
      [{ path: 'conf', type: 'SymbolicLink', linkpath: '/etc' }, { path: 'conf/evil', body: 'pwned' }],
      'conf',
    ],
    [
      'a file written through an inside symlink',
      [{ path: 'd', type: 'Directory' }, { path: 'l', type: 'SymbolicLink', linkpath: 'd' }, { path: 'l/f', body: 'x' }],
      'l/f',
    ],
    ['a hardlink out', [BENIGN, { path: 'h', type: 'Link', linkpath: '../../outside' }], '"h"'],
    ['an absolute hardlink', [BENIGN, { path: 'h', type: 'Link', linkpath: '/etc/passwd' }], '"h"'],
    ['a character device', [BENIGN, { path: 'null', type: 'CharacterDevice' }], 'null'],
    ['a block device', [BENIGN, { path: 'sda', type: 'BlockDevice' }], 'sda'],
    ['a FIFO', [BENIGN, { path: 'fifo', type: 'FIFO' }], 'fifo'],
    ['a setuid file', [{ path: 'su', body: 'x', mode: 0o4755 }], 'su'],
  ])('refuses %s with E_UNSAFE_PATH, writing nothing', async (_name, entries, named) => {
    const file = await writeArtefact(entries);
    const before = await listTree(sandbox);

    await expect(unpackArtefact({ file, targetDir: target })).rejects.toMatchObject({
      code: 'E_UNSAFE_PATH',
      message: expect.stringContaining(named),
    });

    expect(await listTree(sandbox)).toEqual(before); // no target, no staging dir, no evil
    await expect(stat('/abs/path')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('leaves an empty target directory empty when it refuses', async () => {
    await mkdir(target);
    const file = await writeArtefact([BENIGN, { path: '../evil', body: 'pwned' }]);
    await expect(unpackArtefact({ file, targetDir: target })).rejects.toMatchObject({ code: 'E_UNSAFE_PATH' });
    expect(await readdir(target)).toEqual([]);
    expect(await readdir(releases)).toEqual(['r1']);
  });

  it('refuses a truncated artefact as invalid, writing nothing', async () => {
    const file = join(sandbox, 'cut.tar.gz');
    const whole = craftTarball([{ path: 'big', body: 'x'.repeat(100_000) }]);
    await writeFile(file, whole.subarray(0, Math.floor(whole.length / 2)));
    await expect(unpackArtefact({ file, targetDir: target })).rejects.toMatchObject({ code: 'E_ARTEFACT_INVALID' });
    expect(await readdir(releases)).toEqual([]);
  });

  it('refuses a small artefact that inflates past the cap with zeros after its end, writing nothing', async () => {
    // A valid archive, then 64 MiB of zeros after its end-of-archive blocks: about 64 KiB compressed.
    const tar = gunzipSync(craftTarball([BENIGN]));
    const file = join(sandbox, 'bomb.tar.gz');
    await writeFile(file, gzipSync(Buffer.concat([tar, Buffer.alloc(64 * 1024 * 1024)]), { level: 1 }));
    await expect(unpackArtefact({ file, targetDir: target, limits: { maxDecompressedBytes: 16 * 1024 * 1024 } })).rejects.toMatchObject({
      code: 'E_ARTEFACT_INVALID', details: expect.objectContaining({ limit: 'maxDecompressedBytes' }),
    });
    expect(await readdir(releases)).toEqual([]);
  });

  it('accepts the zeros some tar writers pad an archive with after its end', async () => {
    const tar = gunzipSync(craftTarball([BENIGN]));
    const file = join(sandbox, 'padded.tar.gz');
    await writeFile(file, gzipSync(Buffer.concat([tar, Buffer.alloc(20 * 512)])));
    const out = await unpackArtefact({ file, targetDir: target });
    expect(out.fileCount).toBe(1);
  });

  it('refuses an artefact that unpacks to more than the limit', async () => {
    const file = await writeArtefact([{ path: 'a', body: 'x'.repeat(600) }, { path: 'b', body: 'x'.repeat(600) }]);
    await expect(unpackArtefact({ file, targetDir: target, maxBytes: 1000 })).rejects.toMatchObject({
      code: 'E_ARTEFACT_INVALID',
    });
    expect(await readdir(releases)).toEqual([]);
  });
});

describe('unpackArtefact', () => {
  it('refuses a digest mismatch with E_ARTEFACT_TAMPERED before extracting anything', async () => {
    const file = await writeArtefact([BENIGN]);
    const digest = await sha256File(file);
    const bytes = await readFile(file);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 0xff;
    await writeFile(file, bytes);

    await expect(unpackArtefact({ file, targetDir: target, expectedDigest: digest })).rejects.toMatchObject({
      code: 'E_ARTEFACT_TAMPERED',
    });
    expect(await readdir(releases)).toEqual([]);
  });

  it('refuses an expected digest that is not a digest', async () => {
    const file = await writeArtefact([BENIGN]);
    await expect(unpackArtefact({ file, targetDir: target, expectedDigest: 'md5:abc' })).rejects.toMatchObject({
      code: 'E_BAD_REQUEST',
    });
  });

  it('refuses a target directory that is not empty', async () => {
    await mkdir(target);
    await writeFile(join(target, 'old'), 'x');
    const file = await writeArtefact([BENIGN]);
    await expect(unpackArtefact({ file, targetDir: target })).rejects.toMatchObject({ code: 'E_BAD_REQUEST' });
    expect(await readdir(target)).toEqual(['old']);
  });

  it('accepts inside links: a symlink that climbs and returns, a hardlink to an earlier file', async () => {
    const file = await writeArtefact([
      { path: './', type: 'Directory' },
      { path: 'lib/', type: 'Directory' },
      { path: 'lib/a.txt', body: 'A' },
      { path: 'lib/b', type: 'SymbolicLink', linkpath: '../lib/a.txt' },
      { path: 'c', type: 'Link', linkpath: 'lib/a.txt' },
    ]);
    const result = await unpackArtefact({ file, targetDir: target, expectedDigest: await sha256File(file) });
    expect(result.fileCount).toBe(3);
    expect(await readFile(join(target, 'lib/b'), 'utf8')).toBe('A');
    expect(await readFile(join(target, 'c'), 'utf8')).toBe('A');
    expect(await readdir(releases)).toEqual(['r1']); // the staging directory is gone
  });

  it('unpacks into an existing empty directory', async () => {
    const src = join(sandbox, 'src');
    await mkdir(src);
    await writeFile(join(src, 'index.js'), 'x');
    const packed = await packDirectory({ dir: src, outFile: join(sandbox, 'p.tar.gz') });
    await mkdir(target);
    const result = await unpackArtefact({ file: packed.file, targetDir: target, expectedDigest: packed.digest });
    expect(result).toMatchObject({ dir: target, digest: packed.digest, fileCount: 1, bytes: 1 });
    expect(await readdir(target)).toEqual(['index.js']);
  });
});
