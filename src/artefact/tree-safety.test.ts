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
  ])('accepts %s', (_name, entries) => {
    expect(() => assertSafeTree(entries)).not.toThrow();
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
  ])('refuses %s with E_UNSAFE_PATH', (_name, entries) => {
    expect(() => assertSafeTree(entries)).toThrowError(expect.objectContaining({ code: 'E_UNSAFE_PATH' }));
  });

  it('refuses the same path stored twice', () => {
    expect(() => assertSafeTree([file('a'), link('a', '/etc')])).toThrowError(
      expect.objectContaining({ code: 'E_ARTEFACT_INVALID' }),
    );
  });
});
