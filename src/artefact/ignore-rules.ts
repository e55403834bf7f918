// .slipwayignore: which files of a service directory stay out of its artefact.
//
// A deliberately small subset of .gitignore, so that what it does is obvious:
//   - one pattern per line; blank lines and lines starting with `#` are skipped;
//     leading and trailing whitespace is trimmed;
//   - `*` matches any run of characters except `/`, `?` one character except `/`,
//     `**` any run including `/` (`**/x`, `a/**`, `a/**/b`);
//   - a trailing `/` matches directories only (`logs/`);
//   - a pattern containing `/` (other than a trailing one) is anchored to the root
//     of the directory (`/build`, `docs/*.md`); a leading `/` is how to anchor a
//     single name. Otherwise the pattern matches a name at any depth (`*.log`);
//   - an ignored directory is not descended into, so everything under it is out too;
//   - `!` negation and `[...]` classes are NOT supported: a `!` line is refused
//     rather than silently misread.
// `.git` and `.slipway` are always left out, at any depth (a submodule's `.git` is a
// file, so both files and directories of those names are skipped).

import { SlipwayError } from '../core/errors.ts';

export const ALWAYS_EXCLUDED_NAMES: readonly string[] = ['.git', '.slipway'];

export const IGNORE_FILE_NAME = '.slipwayignore';

interface CompiledPattern {
  source: string;
  regex: RegExp;
  isAnchored: boolean;
  isDirectoryOnly: boolean;
}

export interface IgnoreRules {
  readonly patterns: readonly string[];
  /** `relPath` is '/'-separated and relative to the packed directory. */
  isIgnored(relPath: string, isDirectory: boolean): boolean;
}

export function parseIgnoreRules(text: string, sourceName = IGNORE_FILE_NAME): IgnoreRules {
  const compiled: CompiledPattern[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    if (line.startsWith('!')) {
      throw new SlipwayError(
        'E_CONFIG_INVALID',
        `${sourceName}:${index + 1}:1: negated patterns ('!') are not supported; ` +
          'narrow the patterns that exclude the file instead',
        { file: sourceName, line: index + 1, pattern: line },
      );
    }
    compiled.push(compilePattern(line));
  });
  return {
    patterns: compiled.map((p) => p.source),
    isIgnored(relPath, isDirectory) {
      const name = relPath.slice(relPath.lastIndexOf('/') + 1);
      if (ALWAYS_EXCLUDED_NAMES.includes(name)) return true;
      return compiled.some(
        (p) => (isDirectory || !p.isDirectoryOnly) && p.regex.test(p.isAnchored ? relPath : name),
      );
    },
  };
}

function compilePattern(source: string): CompiledPattern {
  let body = source;
  const isDirectoryOnly = body.endsWith('/');
  if (isDirectoryOnly) body = body.replace(/\/+$/, '');
  const isAnchored = body.includes('/');
  body = body.replace(/^\/+/, '');
  return { source, regex: new RegExp(`^${globToRegexSource(body)}$`), isAnchored, isDirectoryOnly };
}

function globToRegexSource(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*' && glob[i + 1] === '*') {
      const atSegmentStart = i === 0 || glob[i - 1] === '/';
      if (atSegmentStart && glob[i + 2] === '/') {
        out += '(?:.*/)?'; // `**/` also matches zero directories
        i += 2;
      } else {
        out += '.*';
        i += 1;
      }
    } else if (c === '*') {
      out += '[^/]*';
    } else if (c === '?') {
      out += '[^/]';
    } else {
      out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  return out;
}
