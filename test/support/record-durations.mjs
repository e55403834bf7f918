// Rewrites test/durations.json (seconds per test file, for the longest-first
// order of vitest.config.ts) from what vitest kept of the last run. Run it after
// a full `npm test` on a quiet machine.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const cacheDir = join('node_modules', '.vite', 'vitest');
const out = {};
for (const d of readdirSync(cacheDir)) {
  let data;
  try {
    data = JSON.parse(readFileSync(join(cacheDir, d, 'results.json'), 'utf8'));
  } catch {
    continue;
  }
  for (const [key, r] of data.results) {
    const file = key.replace(/^[^:]*:/, '');
    if (typeof r.duration === 'number' && existsSync(file)) out[file] = Math.round(r.duration / 1000);
  }
}
const sorted = Object.fromEntries(Object.entries(out).sort((a, b) => b[1] - a[1]));
writeFileSync(join('test', 'durations.json'), `${JSON.stringify(sorted, null, 2)}\n`);
console.log(`${Object.keys(sorted).length} files; longest: ${Object.entries(sorted).slice(0, 5).map(([f, s]) => `${f} ${s}s`).join(', ')}`);
