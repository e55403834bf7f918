// Reading /metrics in tests: `promtool check metrics` (Prometheus' own parser and
// linter, from the Debian prometheus package) decides whether the text is valid;
// samples() picks values out of it for assertions.

import { spawnSync } from 'node:child_process';

export const PROMTOOL = '/usr/bin/promtool';

/** Problems promtool finds in an exposition (empty when it parses and lints clean). */
export function promtoolProblems(text: string): string {
  const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw r.error;
  return r.status === 0 ? '' : `${r.stdout}${r.stderr}`.trim() || `promtool exited ${r.status}`;
}

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function samples(text: string): PromSample[] {
  const out: PromSample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3] === '+Inf' ? Infinity : m[3]) });
  }
  return out;
}

/** Sum of the samples of `name` whose labels include `labels`. */
export function sampleSum(text: string, name: string, labels: Record<string, string> = {}): number {
  return samples(text)
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}
