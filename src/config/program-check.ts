// `slipway validate`'s look at the service directory: whether run.command's program
// can be found at all, so that a typo (`node sever.js`, `./strat.sh`, `json-sever`)
// is named at file:line:col before a deploy uploads anything and then fails at its
// first instance. Only for environments of the process runtime: a container runs
// its image's files, which this machine cannot see.

import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import type { ServiceConfig } from '../core/service-config.ts';
import type { PathIssue } from './path-issue.ts';

export interface ProgramCheck {
  /** The program cannot be found: a deploy would fail. */
  errors: PathIssue[];
  /** Likely wrong, but slipway cannot be sure (a script an interpreter is given). */
  warnings: PathIssue[];
}

// Programs whose first non-flag argument is a script they read from the tree.
const INTERPRETERS = new Set(['node', 'nodejs', 'python', 'python3', 'ruby', 'php', 'perl', 'bun', 'deno']);
const SCRIPT_EXTENSION = /\.(?:[cm]?js|[cm]?ts|py|rb|php|pl)$/;

const COMMAND_PATH = ['run', 'command'];

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function isExecutableFile(path: string): boolean {
  if (!isFile(path)) return false;
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where the process runtime would find a bare program name: the release's node_modules/.bin, then PATH. */
export function findOnPath(name: string, o: { serviceDir: string; pathEnv: string }): string | null {
  const dirs = [join(o.serviceDir, 'node_modules', '.bin'), ...o.pathEnv.split(delimiter).filter(Boolean)];
  for (const dir of dirs) if (isExecutableFile(join(dir, name))) return join(dir, name);
  return null;
}

export function checkRunProgram(config: ServiceConfig, o: { serviceDir: string; pathEnv: string }): ProgramCheck {
  const out: ProgramCheck = { errors: [], warnings: [] };
  const runsHere = Object.values(config.environments).some((e) => e.runtime === 'process');
  if (!runsHere) return out;
  const [program, ...args] = config.run.argv;
  if (program === undefined || program.includes('${')) return out;
  if (program.includes('/')) {
    // An absolute path names a file of the server's machine, which may not be this one.
    if (isAbsolute(program)) return out;
    const path = resolve(o.serviceDir, program);
    if (!isFile(path)) {
      out.errors.push({ path: COMMAND_PATH, at: 'value', message: `the program ${program} is not a file in the service directory ${o.serviceDir}; check the path (it is relative to the service directory)` });
    } else if (!isExecutableFile(path)) {
      out.errors.push({ path: COMMAND_PATH, at: 'value', message: `the program ${program} is not executable; chmod +x it, or name its interpreter first (e.g. sh ${program})` });
    }
    return out;
  }
  if (findOnPath(program, o) === null) {
    out.errors.push({
      path: COMMAND_PATH, at: 'value',
      message: `the program "${program}" is neither in node_modules/.bin nor on PATH here; install it (npm install ${program}, or a system package), or give its path (./bin/${program})`,
    });
    return out;
  }
  const missing = missingDependencies(o.serviceDir);
  if (missing.length > 0) out.warnings.push({ path: COMMAND_PATH, at: 'value', message: missingDependenciesMessage(missing) });
  if (INTERPRETERS.has(program)) {
    const script = args.find((a) => !a.startsWith('-'));
    // `python3 -m module` names a module, not a file.
    const isModule = args.includes('-m') || args.includes('-e') || args.includes('-c');
    if (script !== undefined && !isModule && SCRIPT_EXTENSION.test(script) && !script.includes('${') && !isFile(resolve(o.serviceDir, script))) {
      out.warnings.push({ path: COMMAND_PATH, at: 'value', message: `${program} is given ${script}, which is not a file in the service directory ${o.serviceDir}; ${missingScriptAdvice(o.serviceDir)}` });
    }
  }
  return out;
}

/**
 * A script that a build makes (tsc or esbuild into dist/) is missing until the build
 * has run here: a release is the directory as it is, and nothing builds it on the way.
 */
function missingScriptAdvice(serviceDir: string): string {
  let scripts: unknown;
  try {
    scripts = (JSON.parse(readFileSync(join(serviceDir, 'package.json'), 'utf8')) as { scripts?: unknown }).scripts;
  } catch {
    return 'check the name';
  }
  const hasBuild = typeof scripts === 'object' && scripts !== null && typeof (scripts as Record<string, unknown>)['build'] === 'string';
  return hasBuild ? 'check the name, or run `npm run build` here before deploying (a release is the directory as it is: nothing builds it on the way)' : 'check the name';
}

/**
 * The dependencies package.json names that the service directory's own
 * node_modules lacks. A release is the directory as it is (no install step runs
 * for the process runtime), and node finds nothing above it there: a dependency
 * hoisted to a workspace root, or never installed, fails the first instance with
 * "Cannot find module". Empty without a package.json, or one that cannot be read.
 */
export function missingDependencies(serviceDir: string): string[] {
  let pkg: { dependencies?: unknown };
  try {
    pkg = JSON.parse(readFileSync(join(serviceDir, 'package.json'), 'utf8')) as { dependencies?: unknown };
  } catch {
    return [];
  }
  if (typeof pkg.dependencies !== 'object' || pkg.dependencies === null) return [];
  return Object.keys(pkg.dependencies).filter((name) => !existsSync(join(serviceDir, 'node_modules', name, 'package.json')));
}

export function missingDependenciesMessage(missing: readonly string[]): string {
  const named = missing.length > 3 ? `${missing.slice(0, 3).join(', ')} and ${missing.length - 3} more` : missing.join(', ');
  return `package.json depends on ${named}, not in this directory's node_modules: a release is the directory as it is, so its instances would fail with "Cannot find module"; run \`npm ci\` (or \`npm ci --omit=dev\`) here before deploying`;
}
