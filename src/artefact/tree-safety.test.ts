import { describe, expect, it } from 'vitest';
import { assertSafeTree, normaliseEntryPath, type TreeEntry } from './tree-safety.ts';

describe('normaliseEntryPath', () => {
  it.each([
    ['./a/b/', 'a/b'],
    ['a//b', 'a/b'],
    ['./', ''],
    ['a/./b', 'a/b'],
  ])('%j becomes %j', (raw, normal) => {
    expect(normaliseEntryPath(raw)).toBe(normal);
  });

  it.each(['/etc/passwd', '../x', 'a/../../x', 'a/../b', 'C:/x', '\\\\server\\x', 'a\\..\\b', 'a\0b'])(
    'refuses %j with E_UNSAFE_PATH',
    (raw) => {
      expect(() => normaliseEntryPath(raw)).toThrowError(expect.objectContaining({ code: 'E_UNSAFE_PATH' }));
    },
  );
});

describe('assertSafeTree', () => {
  const file = (path: string): TreeEntry => ({ path, type: 'file' });
  const dir = (path: string): TreeEntry => ({ path, type: 'directory' });
  const link = (path: string, linkpath: string): TreeEntry => ({ path, type: 'symlink', linkpath });
  const hard = (path: string, linkpath: string): TreeEntry => ({ path, type: 'hardlink', linkpath });

  it.each<[string, TreeEntry[]]>([
    ['a relative link to a sibling', [file('a'), link('b', 'a')]],
    ['a link that climbs and comes back down', [dir('x'), dir('x/y'), file('z'), link('x/y/l', '../../z')]],
    ['a link to the root itself', [link('root', '.')]],
    ['a dangling link that stays inside', [link('later', 'not/there/yet')]],
    ['a link through another link that stays inside', [dir('d'), dir('d/e'), link('l', 'd/e'), link('m', 'l/..')]],
    ['a hardlink to an earlier file', [file('a'), hard('b', 'a')]],
  ])('accepts %s', async (_name, entries) => {
    await expect(assertSafeTree(entries)).resolves.toBeUndefined();
  });

  it.each<[string, TreeEntry[]]>([
    ['an absolute symlink', [link('etc', '/etc')]],
    ['a symlink that climbs out', [dir('a'), link('a/x', '../../x')]],
    ['a symlink out through a link to the root', [link('l', '.'), link('x', 'l/..')]],
    ['a symlink out through a chain', [dir('a'), link('a/up', '..'), link('b', 'a/up/a/up/..')]],
    ['a symlink loop', [link('a', 'b'), link('b', 'a')]],
    ['an entry written through a symlink', [dir('real'), link('l', 'real'), file('l/f')]],
    ['a hardlink out', [hard('h', '../outside')]],
    ['an absolute hardlink', [hard('h', '/etc/passwd')]],
    ['a hardlink to a later file', [hard('h', 'a'), file('a')]],
    ['a hardlink to a symlink', [link('l', 'x'), hard('h', 'l')]],
  ])('refuses %s with E_UNSAFE_PATH', async (_name, entries) => {
    await expect(assertSafeTree(entries)).rejects.toMatchObject({ code: 'E_UNSAFE_PATH' });
  });

  it('refuses the same path stored twice', async () => {
    await expect(assertSafeTree([file('a'), link('a', '/etc')])).rejects.toMatchObject({ code: 'E_ARTEFACT_INVALID' });
  });

  it('refuses a path longer than PATH_MAX', () => {
    expect(() => normaliseEntryPath(`${'a/'.repeat(2100)}f`)).toThrowError(expect.objectContaining({ code: 'E_UNSAFE_PATH' }));
  });

  it('judges a tangle of long link chains quickly, refusing it', async () => {
    // 2,000 links, each the head of a 40-hop chain whose targets are 1,000 segments long.
    const deep = Array.from({ length: 1000 }, () => 'd').join('/');
    const entries: TreeEntry[] = [];
    for (let i = 0; i < 2000; i++) entries.push(link(`l${i}`, `${deep}/${'../'.repeat(1000)}l${(i + 1) % 2000}`));
    const started = Date.now();
    await expect(assertSafeTree(entries)).rejects.toMatchObject({ code: expect.stringMatching(/E_ARTEFACT_INVALID|E_UNSAFE_PATH/) });
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
