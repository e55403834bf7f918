import { describe, expect, it } from 'vitest';
import { parseIgnoreRules } from './ignore-rules.ts';

describe('parseIgnoreRules', () => {
  const cases: Array<[pattern: string, path: string, isDirectory: boolean, ignored: boolean]> = [
    ['*.log', 'x.log', false, true],
    ['*.log', 'deep/down/x.log', false, true],
    ['*.log', 'x.log.txt', false, false],
    ['node_modules/', 'node_modules', true, true],
    ['node_modules/', 'pkg/node_modules', true, true],
    ['node_modules/', 'node_modules', false, false], // dir-only pattern, but a file
    ['/build', 'build', true, true],
    ['/build', 'src/build', true, false], // anchored to the root
    ['docs/*.md', 'docs/a.md', false, true],
    ['docs/*.md', 'docs/sub/a.md', false, false], // '*' stops at '/'
    ['docs/*.md', 'other/docs/a.md', false, false], // a '/' in the middle anchors
    ['**/tmp', 'a/b/tmp', true, true],
    ['**/tmp', 'tmp', true, true], // '**/' also matches zero directories
    ['a/**/b', 'a/b', false, true],
    ['a/**/b', 'a/x/y/b', false, true],
    ['cache/**', 'cache/x/y', false, true],
    ['file?.txt', 'file1.txt', false, true],
    ['file?.txt', 'file12.txt', false, false],
    ['a.b', 'aXb', false, false], // '.' is literal
    ['  spaced.txt  ', 'spaced.txt', false, true],
  ];

  it.each(cases)('%j against %j (dir: %s) → ignored: %s', (pattern, path, isDirectory, ignored) => {
    expect(parseIgnoreRules(pattern).isIgnored(path, isDirectory)).toBe(ignored);
  });

  it('skips comments and blank lines', () => {
    const rules = parseIgnoreRules('# a comment\n\n*.tmp\r\n');
    expect(rules.patterns).toEqual(['*.tmp']);
  });

  it('always leaves out .git and .slipway, as files or directories, at any depth', () => {
    const rules = parseIgnoreRules('');
    expect(rules.isIgnored('.git', true)).toBe(true);
    expect(rules.isIgnored('vendor/lib/.git', false)).toBe(true);
    expect(rules.isIgnored('.slipway', true)).toBe(true);
    expect(rules.isIgnored('.gitignore', false)).toBe(false);
  });

  it('refuses negation with the file and line, rather than misreading it', () => {
    expect(() => parseIgnoreRules('*.log\n!keep.log')).toThrowError(/\.slipwayignore:2:1: negated/);
  });
});
