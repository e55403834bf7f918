// `slipway validate` on a service directory: slipway.yaml's own checks
// (load-config.ts), then what only the directory can tell (program-check.ts), each
// problem placed at file:line:col like the others.

import { LineCounter, parseDocument } from 'yaml';
import { validateConfigText, type ConfigIssue, type ConfigValidation } from './load-config.ts';
import type { PathIssue } from './path-issue.ts';
import { checkRunProgram } from './program-check.ts';
import { formatPath, offsetOfPath } from './yaml-locate.ts';

export interface ServiceDirectory {
  /** The directory that is packed into the artefact (relative paths of run.command are read from it). */
  serviceDir: string;
  /** Where a bare program name is looked up after node_modules/.bin: this machine's PATH. */
  pathEnv: string;
}

export function validateServiceConfig(text: string, file: string, dir: ServiceDirectory): ConfigValidation {
  const result = validateConfigText(text, file);
  if (!result.ok) return result;
  const check = checkRunProgram(result.config, dir);
  if (check.errors.length === 0 && check.warnings.length === 0) return result;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, merge: true });
  const place = (i: PathIssue): ConfigIssue => {
    const { line, col } = lineCounter.linePos(offsetOfPath(doc, i));
    return { file, line, col, path: formatPath(i.path), message: i.message };
  };
  if (check.errors.length > 0) return { ok: false, issues: check.errors.map(place) };
  return { ...result, warnings: [...result.warnings, ...check.warnings.map(place)] };
}
