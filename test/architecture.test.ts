// The layers of docs/architecture.md as a test: who may import whom (the doc's table
// and ALLOWED must agree), no cycles, no reaching into the store from the outer
// layers, and the error codes documented. A change that needs an arrow the other way
// fails here.

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../src/core/errors.ts';
import { HTTP_STATUS } from '../src/api/error-status.ts';
import { REPO } from './support/harness.ts';

const SRC = join(REPO, 'src');

/**
 * Which layers each layer may import (besides itself). Type-only imports count too.
 * docs/architecture.md's table says the same, with why; a test below keeps them equal.
 */
const ALLOWED: Record<string, string[]> = {
  core: [],
  // Node-level helpers (atomic file writes) that every layer running on node may use.
  platform: [],
  config: ['core', 'platform'],
  artefact: ['core', 'platform'],
  store: ['core', 'platform'],
  runtime: ['core', 'platform'],
  router: ['core', 'platform'],
  // The log relay (observe) masks secrets with security's redactor before a line reaches disk.
  observe: ['core', 'platform', 'store', 'security'],
  security: ['core', 'platform', 'store'],
  // Not runtime: the engine reaches runtimes through ports whose contracts are in core/ports.
  engine: ['core', 'platform', 'store', 'router', 'observe', 'security', 'artefact'],
  // api checks tokens and writes the audit trail through security; it reads instance
  // log files and renders /metrics with observe's reader and registry.
  api: ['core', 'platform', 'config', 'engine', 'security', 'observe'],
  // cli starts the server in-process for `slipway server`: server.ts is the composition root.
  // `slipway render` prints manifests without a server, from runtime/kubernetes's pure generator.
  cli: ['core', 'platform', 'config', 'artefact', 'api', 'store', 'server.ts', 'runtime'],
  ui: ['core', 'api'],
  'server.ts': ['*'],
};

function sourceFiles(dir: string, exts = ['.ts']): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sourceFiles(p, exts);
    return exts.some((x) => p.endsWith(x)) && !/\.test\.[jt]s$/.test(p) ? [p] : [];
  });
}

/** The rows of docs/architecture.md's "Who may import whom" table: layer → what it may import. */
function documentedLayers(): Record<string, string[]> {
  const doc = readFileSync(join(REPO, 'docs', 'architecture.md'), 'utf8');
  const section = doc.split(/^## /m).find((s) => s.startsWith('Who may import whom'));
  if (!section) throw new Error('docs/architecture.md has no "## Who may import whom" section');
  const rows: Record<string, string[]> = {};
  for (const m of section.matchAll(/^\| `([^`]+)` \| ([^|]+) \|/gm)) {
    const cell = m[2]!.trim();
    rows[m[1]!] = cell === 'everything' ? ['*'] : cell === 'nothing' ? [] : [...cell.matchAll(/`([^`]+)`/g)].map((x) => x[1]!);
  }
  return rows;
}

/**
 * Ways a file may reach for a `store` property of something it was given (an engine,
 * a host): `x.store`, `x?.store`, `{ store } = x`, `x['store']`. Text, not types: the
 * outer layers have no business naming it at all.
 */
const STORE_REACH = [
  /[\w$)\]]\??\.store\b/,
  /\{[^{}]*\bstore\b[^{}]*\}\s*=[^=>]/,
  /\[\s*['"`]store['"`]\s*\]/,
];

function layerOf(file: string): string {
  const rel = relative(SRC, file).split('/');
  return rel.length === 1 ? rel[0]! : rel[0]!;
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/g), ...text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)];
  return specs.map((m) => m[1]!).filter((s) => s.startsWith('.')).map((s) => resolve(dirname(file), s));
}

describe('architecture', () => {
  const files = sourceFiles(SRC);

  it('every import follows the layer rules', () => {
    const violations: string[] = [];
    for (const f of files) {
      const from = layerOf(f);
      const allowed = ALLOWED[from];
      if (!allowed) {
        violations.push(`${relative(SRC, f)}: folder "${from}" is not a layer in ALLOWED`);
        continue;
      }
      for (const target of importsOf(f)) {
        const to = layerOf(target);
        if (to === from || allowed.includes('*') || allowed.includes(to)) continue;
        violations.push(`${relative(SRC, f)} imports ${relative(SRC, target)} (${from} → ${to})`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('docs/architecture.md\'s table lists every layer with the imports ALLOWED gives it', () => {
    const sorted = (r: Record<string, string[]>) => Object.fromEntries(Object.keys(r).sort().map((k) => [k, [...r[k]!].sort()]));
    expect(sorted(documentedLayers())).toEqual(sorted(ALLOWED));
  });

  it('api, cli and ui never reach for a store property: they get narrow services', () => {
    const bad: string[] = [];
    for (const layer of ['api', 'cli', 'ui']) {
      for (const f of sourceFiles(join(SRC, layer), ['.ts', '.js'])) {
        readFileSync(f, 'utf8').split('\n').forEach((line, i) => {
          if (STORE_REACH.some((re) => re.test(line))) bad.push(`${relative(SRC, f)}:${i + 1}: ${line.trim()}`);
        });
      }
    }
    expect(bad).toEqual([]);
  });

  it('the store-reach check catches each way of writing it', () => {
    const caught = (line: string) => STORE_REACH.some((re) => re.test(line));
    for (const line of ['engine.store.getRelease(1)', 'rolloutView(engine.store, r)', 'o.engine?.store', 'const { store } = engine;', 'const { pipeline, store: s } = host;', "engine['store']"]) {
      expect(caught(line), line).toBe(true);
    }
    for (const line of ["x.provider === 'store' ? 1 : 2", 'reads.rollouts.view(r)', "import { DEFAULT_DATA_DIR } from '../store/data-dir.ts';", "cache: 'no-store'", 'sessionStorage.getItem(k)', '// Routes never get the store.']) {
      expect(caught(line), line).toBe(false);
    }
  });

  it('core uses no node: module', () => {
    const bad = files.filter((f) => layerOf(f) === 'core' && /from\s+['"]node:/.test(readFileSync(f, 'utf8')));
    expect(bad.map((f) => relative(SRC, f))).toEqual([]);
  });

  it('no file under src/engine imports src/runtime', () => {
    // The engine reaches runtimes through its ports (DESIGN.md: "Runtimes behind ports"):
    // the contracts both sides share are in core/ports/, and server.ts hands the engine
    // what runtime/ implements (engine/ports.ts).
    const found: string[] = [];
    for (const f of files.filter((x) => layerOf(x) === 'engine')) {
      for (const t of importsOf(f)) if (layerOf(t) === 'runtime') found.push(`${relative(SRC, f)} → ${relative(SRC, t)}`);
    }
    expect(found, 'the engine imports a runtime: give it a port (engine/ports.ts, core/ports/) and wire it in server.ts').toEqual([]);
  });

  it('a runtime driver never imports another driver', () => {
    const bad: string[] = [];
    for (const f of files.filter((x) => relative(SRC, x).startsWith('runtime/'))) {
      const own = relative(SRC, f).split('/')[1];
      for (const t of importsOf(f)) {
        const parts = relative(SRC, t).split('/');
        if (parts[0] === 'runtime' && parts.length > 2 && parts[1] !== own) bad.push(`${relative(SRC, f)} → ${relative(SRC, t)}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('there are no import cycles', () => {
    const graph = new Map(files.map((f) => [f, importsOf(f).map((t) => (t.endsWith('.ts') ? t : `${t}.ts`))]));
    const state = new Map<string, 'visiting' | 'done'>();
    const cycles: string[] = [];
    const visit = (f: string, path: string[]) => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'visiting') {
        cycles.push([...path.slice(path.indexOf(f)), f].map((p) => relative(SRC, p)).join(' → '));
        return;
      }
      state.set(f, 'visiting');
      for (const t of graph.get(f) ?? []) visit(t, [...path, f]);
      state.set(f, 'done');
    };
    for (const f of files) visit(f, []);
    expect(cycles).toEqual([]);
  });

  it('every error code is documented in docs/errors.md with its HTTP status', () => {
    const doc = readFileSync(join(REPO, 'docs', 'errors.md'), 'utf8');
    const documented = [...doc.matchAll(/^\| `(E_[A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]);
    expect(documented).toEqual(ERROR_CODES.map((c) => [c, HTTP_STATUS[c]]));
  });
});
