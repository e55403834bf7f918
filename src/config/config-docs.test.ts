import { readFileSync } from 'node:fs';
import { isMap, parseDocument } from 'yaml';
import type { Node } from 'yaml';
import { describe, expect, it } from 'vitest';
import { renderInitConfig } from './init-template.ts';
import { parseConfigText } from './load-config.ts';

const DOCS = readFileSync(new URL('../../docs/config.md', import.meta.url), 'utf8');

// Keys a reader may write, from the init template, which writes every one of them.
function keysOf(node: unknown, into = new Set<string>()): Set<string> {
  if (!isMap(node)) return into;
  for (const pair of node.items) {
    const key = String((pair.key as Node & { value: unknown }).value);
    into.add(key);
    // Environment names are the user's own: look inside the first environment instead.
    const child = key === 'environments' && isMap(pair.value) ? pair.value.items[0]?.value : pair.value;
    keysOf(child, into);
  }
  return into;
}

describe('docs/config.md', () => {
  it('has an example that loads', () => {
    const example = /```yaml\n([\s\S]*?)```/.exec(DOCS)?.[1] ?? '';
    expect(parseConfigText(example, 'docs/config.md').service).toBe('hello');
  });

  it('documents every key that slipway init writes', () => {
    const template = parseDocument(renderInitConfig({ service: 'svc', command: 'node server.js' }));
    const keys = keysOf(template.contents);
    expect(keys.size).toBeGreaterThan(15);
    const missing = [...keys].filter((k) => !DOCS.includes(`| \`${k}\` |`));
    expect(missing).toEqual([]);
  });
});
