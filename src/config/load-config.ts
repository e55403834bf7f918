// Reads slipway.yaml into a ServiceConfig, or refuses it with every problem named
// as file:line:col, field path, and what is allowed there.

import { readFileSync } from 'node:fs';
import { isMap, isScalar, LineCounter, parseDocument, visit } from 'yaml';
import type { Alias, Document, YAMLError } from 'yaml';
import { SlipwayError } from '../core/errors.ts';
import type { ServiceConfig } from '../core/service-config.ts';
import type { FieldPath, PathIssue } from './path-issue.ts';
import { validateConfigData } from './schema.ts';
import { secretGuardIssues } from './secret-guard.ts';
import { formatPath, offsetOfPath, pathAtOffset } from './yaml-locate.ts';

export const CONFIG_FILE_NAME = 'slipway.yaml';

export interface ConfigIssue {
  file: string;
  /** 1-based, as editors count. */
  line: number;
  col: number;
  /** The field, e.g. "environments.production.strategy.batch". */
  path: string;
  message: string;
}

/** `warnings` are problems that do not stop a deploy (plain values that look like secrets). */
export type ConfigValidation = { ok: true; config: ServiceConfig; warnings: ConfigIssue[] } | { ok: false; issues: ConfigIssue[] };

/** The one-line form: `slipway.yaml:14:16 environments.production.strategy.batch: expected ...`. */
export function formatConfigIssue(issue: ConfigIssue): string {
  return `${issue.file}:${issue.line}:${issue.col} ${issue.path}: ${issue.message}`;
}

/**
 * A larger file is refused before it is parsed: yaml's duplicate-key check grows
 * with the square of a map's size (a 10 MB file took over a minute), and no
 * service's settings come near this.
 */
export const MAX_CONFIG_CHARS = 1024 * 1024;

/** For `slipway validate`: problems are a value here, not a throw. */
export function validateConfigText(text: string, file: string): ConfigValidation {
  if (text.length > MAX_CONFIG_CHARS) {
    const size = `${(text.length / 1024 / 1024).toFixed(1)} MiB`;
    return { ok: false, issues: [{ file, line: 1, col: 1, path: formatPath([]), message: `the file is ${size}; a slipway.yaml may be at most 1 MiB` }] };
  }
  const lineCounter = new LineCounter();
  // merge: `<<: *defaults` is the usual way to share settings between environments.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, merge: true });
  const at = (offset: number, path: FieldPath, message: string): ConfigIssue => {
    const { line, col } = lineCounter.linePos(Math.min(offset, text.length));
    return { file, line, col, path: formatPath(path), message };
  };

  const duplicates = doc.errors.filter((e) => e.code === 'DUPLICATE_KEY');
  const yamlIssues = duplicates.map((e) => yamlErrorIssue(doc, e, at));
  // Only the first syntax error is shown: the parser's later ones, and any schema
  // problems, are mostly echoes of it in a tree it had to guess. Duplicate keys
  // leave the tree sound, so the problems found beside them are real.
  const syntaxError = doc.errors.find((e) => e.code !== 'DUPLICATE_KEY');
  if (syntaxError !== undefined) {
    return { ok: false, issues: sorted([...yamlIssues, yamlErrorIssue(doc, syntaxError, at)]) };
  }

  // Files are read as UTF-8, which turns bytes that are not into U+FFFD: a value
  // (a program name, a config value) would reach instances quietly changed.
  const notUtf8 = text.indexOf('\uFFFD');
  if (notUtf8 >= 0) {
    const issue = at(notUtf8, pathAtOffset(doc, notUtf8), 'this is not UTF-8 text (or is the character U+FFFD); save the file as UTF-8');
    return { ok: false, issues: sorted([...yamlIssues, issue]) };
  }

  // A `__proto__` key becomes an own property that the schema's checks skip (they
  // guard against prototype pollution), so its value would be dropped without a word.
  const protoKeys = protoKeyOffsets(doc);
  if (protoKeys.length > 0) {
    return { ok: false, issues: sorted([...yamlIssues, ...protoKeys.map((o) => at(o, pathAtOffset(doc, o), '__proto__ cannot be a key in slipway.yaml (it would be dropped, not kept); name it otherwise'))]) };
  }

  keepConfigScalarsAsWritten(doc);
  let data: unknown;
  try {
    data = doc.toJS();
  } catch (e) {
    // The yaml package refuses alias bombs here (billion laughs), and aliases to
    // no anchor, which can be shown where they are written.
    const alias = unresolvedAlias(doc);
    if (alias !== null) {
      const offset = alias.range?.[0] ?? 0;
      return { ok: false, issues: [at(offset, pathAtOffset(doc, offset), `*${alias.source} names no anchor; set &${alias.source} on a value above this line`)] };
    }
    return { ok: false, issues: [at(0, [], `cannot be read: ${(e as Error).message}`)] };
  }
  const result = validateConfigData(data);
  if (result.ok && yamlIssues.length === 0) {
    const warnings = secretGuardIssues(result.config).map((i) => at(offsetOfPath(doc, i), i.path, i.message));
    return { ok: true, config: result.config, warnings: sorted(warnings) };
  }
  const dataIssues = result.ok ? [] : result.issues.map((i: PathIssue) => at(offsetOfPath(doc, i), i.path, i.message));
  return { ok: false, issues: sorted([...yamlIssues, ...dataIssues]) };
}

export function parseConfigText(text: string, file: string): ServiceConfig {
  const result = validateConfigText(text, file);
  if (result.ok) return result.config;
  throw new SlipwayError('E_CONFIG_INVALID', result.issues.map(formatConfigIssue).join('\n'), {
    issues: result.issues,
  });
}

export function loadConfigFile(path: string): ServiceConfig {
  return parseConfigText(readConfigText(path), path);
}

/** The text of a config file; one that is missing, a directory or unreadable is E_CONFIG_NOT_FOUND, named. */
export function readConfigText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new SlipwayError(
        'E_CONFIG_NOT_FOUND',
        `${path} does not exist; run \`slipway init\` to create one, or pass the path of your ${CONFIG_FILE_NAME}`,
        { file: path },
        { cause: e },
      );
    }
    const reason = code === 'EISDIR' ? 'is a directory' : `cannot be read (${code ?? (e as Error).message})`;
    throw new SlipwayError('E_CONFIG_NOT_FOUND', `${path} ${reason}; pass the path of your ${CONFIG_FILE_NAME}`, { file: path }, { cause: e });
  }
}

/** The first alias (in the order written) whose anchor is not set before it. */
function unresolvedAlias(doc: Document): Alias | null {
  let found: Alias | null = null;
  visit(doc, {
    Alias(_key, node) {
      if (node.resolve(doc) !== undefined) return undefined;
      found = node;
      return visit.BREAK;
    },
  });
  return found;
}

/** Where each `__proto__` key of a map is written. */
function protoKeyOffsets(doc: Document): number[] {
  const offsets: number[] = [];
  visit(doc, {
    Pair(_key, pair) {
      if (isScalar(pair.key) && pair.key.value === '__proto__') offsets.push(pair.key.range?.[0] ?? 0);
      return undefined;
    },
  });
  return offsets;
}

function sorted(issues: ConfigIssue[]): ConfigIssue[] {
  return issues.sort((a, b) => a.line - b.line || a.col - b.col);
}

type IssueAt = (offset: number, path: FieldPath, message: string) => ConfigIssue;

function yamlErrorIssue(doc: Document, error: YAMLError, at: IssueAt): ConfigIssue {
  const offset = error.pos[0];
  const path = pathAtOffset(doc, offset);
  const unclosed = /^Missing closing (["'])quote/.exec(error.message);
  if (unclosed !== null) {
    // yaml reports the end of the text; the opening quote is where the fix starts.
    const quotedPath = pathAtOffset(doc, offset - 1);
    const message = `invalid YAML: this quoted text is never closed; add the closing ${unclosed[1]}`;
    return at(offsetOfPath(doc, { path: quotedPath, at: 'value' }), quotedPath, message);
  }
  switch (error.code) {
    case 'DUPLICATE_KEY': {
      const first = at(offsetOfPath(doc, { path, at: 'key', occurrence: 'first' }), path, '');
      return at(offset, path, `duplicate key; it is already set at line ${first.line}, and a key may appear once`);
    }
    case 'MULTIPLE_DOCS':
      return at(offset, path, 'a second YAML document starts here; slipway.yaml holds one, so remove this "---"');
    case 'TAB_AS_INDENT':
      return at(offset, path, 'invalid YAML: a tab is used for indentation; indent with spaces');
    default:
      return at(offset, path, `invalid YAML: ${error.message.charAt(0).toLowerCase()}${error.message.slice(1)}`);
  }
}

// YAML reads `VERSION: 1.10` as the number 1.1 and `FLAG: True` as true, but an
// environment variable is text: give the program what the file says.
function keepConfigScalarsAsWritten(doc: Document): void {
  const environments = doc.get('environments', true);
  if (!isMap(environments)) return;
  for (const envPair of environments.items) {
    const config = isMap(envPair.value) ? envPair.value.get('config', true) : undefined;
    if (!isMap(config)) continue;
    for (const pair of config.items) {
      const value = pair.value;
      if (isScalar(value) && (typeof value.value === 'number' || typeof value.value === 'boolean') && value.source) {
        value.value = value.source;
      }
    }
  }
}
