// The layers of ../shared/DESIGN.md as a test: who may import whom, no cycles, and
// the error codes documented. A change that needs an arrow the other way fails here.

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../src/core/errors.ts';
import { HTTP_STATUS } from '../src/api/error-status.ts';
import { REPO } from './support/harness.ts';

const SRC = join(REPO, 'src');

/** Which layers each layer may import (besides itself). Type-only imports count too. */
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
  engine: ['core', 'platform', 'store', 'runtime', 'router', 'observe', 'security', 'artefact'],
  // api checks tokens and writes the audit trail through security; it reads instance
  // log files and renders /metrics with observe's reader and registry.
  api: ['core', 'platform', 'config', 'engine', 'security', 'observe'],
  // cli starts the server in-process for `slipway server`: server.ts is the composition root.
  // `slipway render` prints manifests without a server, from runtime/kubernetes's pure generator.
  cli: ['core', 'platform', 'config', 'artefact', 'api', 'store', 'server.ts', 'runtime'],
  ui: ['core', 'api'],
  'server.ts': ['*'],
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

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

  it('core uses no node: module', () => {
    const bad = files.filter((f) => layerOf(f) === 'core' && /from\s+['"]node:/.test(readFileSync(f, 'utf8')));
    expect(bad.map((f) => relative(SRC, f))).toEqual([]);
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
