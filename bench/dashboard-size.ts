// How much JavaScript the dashboard's first load costs, exactly as the server serves
// it: index.html's module entry and everything it imports statically (resolved
// through the page's import map), raw and gzipped. Modules loaded on first use
// (the chart library, added when a rollout view opens) are listed apart. Target: < 200 KB.
//
//   node --import tsx bench/dashboard-size.ts

import { gzipOf, loadUiAssets } from '../src/api/ui-routes.ts';

const assets = loadUiAssets();
const index = assets.get('index.html')!.body.toString('utf8');
const importMap = JSON.parse(/<script type="importmap">([\s\S]*?)<\/script>/.exec(index)?.[1] ?? '{"imports":{}}') as { imports: Record<string, string> };

/** URL path (/ui/x.js) → asset key (x.js). */
const key = (url: string) => url.replace(/^\/ui\//, '');

function resolve(spec: string, from: string): string {
  if (importMap.imports[spec]) return key(importMap.imports[spec]);
  if (spec.startsWith('/')) return key(spec);
  return new URL(spec, `http://x/${from}`).pathname.slice(1);
}

function imports(file: string): { staticDeps: string[]; dynamicDeps: string[] } {
  const text = assets.get(file)?.body.toString('utf8') ?? '';
  const staticDeps = [...text.matchAll(/(?:^|[\n;])\s*(?:import|export)\s*(?:[^'"()]*?\sfrom\s*)?['"]([^'"]+)['"]/g)].map((m) => resolve(m[1]!, file));
  const dynamicDeps = [...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => resolve(m[1]!, file));
  return { staticDeps, dynamicDeps };
}

const entries = [...index.matchAll(/<script type="module" src="([^"]+)"/g)].map((m) => key(m[1]!));
const firstLoad = new Set<string>();
const lazy = new Set<string>();
const queue = [...entries];
while (queue.length) {
  const f = queue.shift()!;
  if (firstLoad.has(f)) continue;
  if (!assets.has(f)) throw new Error(`${f} is imported but not served`);
  firstLoad.add(f);
  const { staticDeps, dynamicDeps } = imports(f);
  queue.push(...staticDeps);
  for (const d of dynamicDeps) lazy.add(d);
}
// The chart library is a classic script added on first use, not an import(): count every other served script too.
for (const f of assets.keys()) if (f.endsWith('.js')) lazy.add(f);
for (const f of firstLoad) lazy.delete(f);

const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
function table(title: string, files: Iterable<string>): { raw: number; gzip: number } {
  let raw = 0;
  let gzip = 0;
  console.log(`\n${title}`);
  for (const f of [...files].sort()) {
    const a = assets.get(f)!;
    raw += a.body.length;
    gzip += (gzipOf(a) ?? a.body).length;
    console.log(`  ${f.padEnd(28)} ${kb(a.body.length).padStart(10)} ${kb((gzipOf(a) ?? a.body).length).padStart(10)} gz`);
  }
  console.log(`  ${'total'.padEnd(28)} ${kb(raw).padStart(10)} ${kb(gzip).padStart(10)} gz`);
  return { raw, gzip };
}

const first = table('first load (index.html → static imports):', firstLoad);
table('loaded on first use (the chart library, on a rollout view):', lazy);
const css = [...assets.keys()].filter((k) => k.endsWith('.css'));
table('stylesheets:', css);
console.log(`\nfirst-load JavaScript: ${kb(first.raw)} as files, ${kb(first.gzip)} as sent with gzip (target < 200 KB): ${first.raw < 200 * 1024 ? 'ok' : 'OVER'}`);
