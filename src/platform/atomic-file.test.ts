import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { replaceFileAtomic, writeFileAtomic, writeFileAtomicSync } from './atomic-file.ts';

const fresh = () => mkdtempSync(join(tmpdir(), 'slipway-atomic-'));
const modeOf = (p: string) => statSync(p).mode & 0o777;

describe.each([
  ['writeFileAtomic', (p: string, d: string, mode?: number) => writeFileAtomic(p, d, mode === undefined ? {} : { mode })],
  ['writeFileAtomicSync', async (p: string, d: string, mode?: number) => writeFileAtomicSync(p, d, mode === undefined ? {} : { mode })],
])('%s', (_name, write) => {
  it('leaves the whole new content under the name, and nothing else beside it', async () => {
    const dir = fresh();
    const path = join(dir, 'routes.json');
    writeFileSync(path, 'old content that is longer than the new one');
    const big = 'x'.repeat(3 * 1024 * 1024);
    await write(path, big);
    expect(readFileSync(path, 'utf8')).toBe(big);
    expect(readdirSync(dir)).toEqual(['routes.json']);
  });

  it('leaves no temp file and the old content when the rename fails', async () => {
    const dir = fresh();
    const path = join(dir, 'taken');
    mkdirSync(join(path, 'inside'), { recursive: true }); // a non-empty directory cannot be renamed over
    await expect(write(path, 'new')).rejects.toThrow();
    expect(readdirSync(dir)).toEqual(['taken']);
    expect(readdirSync(path)).toEqual(['inside']);
  });

  it('gives the file exactly the mode asked for, whatever the umask', async () => {
    const dir = fresh();
    await write(join(dir, 'secret'), 's', 0o600);
    await write(join(dir, 'open'), 'o', 0o666);
    expect(modeOf(join(dir, 'secret'))).toBe(0o600);
    expect(modeOf(join(dir, 'open'))).toBe(0o666);
  });

  it('keeps the mode of the file it replaces when none is asked for', async () => {
    const dir = fresh();
    const path = join(dir, 'kept');
    writeFileSync(path, 'old');
    chmodSync(path, 0o640);
    await write(path, 'new');
    expect(readFileSync(path, 'utf8')).toBe('new');
    expect(modeOf(path)).toBe(0o640);
  });
});

describe('replaceFileAtomic', () => {
  it('puts what the writer wrote at the name, with the mode asked for', async () => {
    const dir = fresh();
    const path = join(dir, 'bundle.mjs');
    await replaceFileAtomic(path, (tmp) => writeFile(tmp, 'export {};\n'), { mode: 0o600 });
    expect(readFileSync(path, 'utf8')).toBe('export {};\n');
    expect(modeOf(path)).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['bundle.mjs']);
  });

  it('removes the half-written temp file and keeps the old content when the writer fails', async () => {
    const dir = fresh();
    const path = join(dir, 'artefact.tar.gz');
    writeFileSync(path, 'old');
    const failing = async (tmp: string) => {
      await writeFile(tmp, 'half');
      throw new Error('digest mismatch');
    };
    await expect(replaceFileAtomic(path, failing)).rejects.toThrow('digest mismatch');
    expect(readFileSync(path, 'utf8')).toBe('old');
    expect(readdirSync(dir)).toEqual(['artefact.tar.gz']);
  });
});
