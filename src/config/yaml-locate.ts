// Maps between field paths (["environments", "production", "listen"]) and places in
// the YAML source, so that a problem found in plain data can be shown where it was
// written, and a YAML syntax error can be named by the field it sits in.

import { isMap, isScalar, isSeq } from 'yaml';
import type { Document, Node, Pair } from 'yaml';
import type { FieldPath } from './path-issue.ts';

function start(node: unknown): number | null {
  return (node as Node | null)?.range?.[0] ?? null;
}

function keyText(pair: Pair): string | null {
  return isScalar(pair.key) ? String(pair.key.value) : null;
}

// An empty value (`key:` and nothing else) has a zero-width node after the colon;
// the key is the place a reader would look at.
function isEmptyScalar(node: unknown): boolean {
  return isScalar(node) && node.value === null && !node.source;
}

export interface NodeTarget {
  path: FieldPath;
  at: 'key' | 'value';
  /**
   * Which pair when a key is duplicated: the last is the one whose value was
   * loaded (and so validated); the first is the one a duplicate repeats.
   */
  occurrence?: 'first' | 'last';
}

/**
 * The source offset of the node at `path`: of its key when `at` is 'key' (or the
 * value is empty), else of its value. A key that is not in the document (missing,
 * or brought in by a merge key) is placed at the key of the map that lacks it, so
 * an error is always shown near its cause.
 */
export function offsetOfPath(doc: Document, target: NodeTarget): number {
  const { path, at, occurrence = 'last' } = target;
  let node: unknown = doc.contents;
  let offset = start(node) ?? 0;
  // Where a missing key is reported: the key of the map that lacks it (`run:`).
  let parentKey = 0;
  for (let i = 0; i < path.length; i++) {
    const segment = path[i];
    const isLast = i === path.length - 1;
    if (isMap(node)) {
      const matches = (p: Pair) => keyText(p) === String(segment);
      const pair = occurrence === 'first' ? node.items.find(matches) : node.items.findLast(matches);
      if (pair === undefined) return parentKey;
      const keyOffset = start(pair.key) ?? offset;
      if (isLast && at === 'key') return keyOffset;
      node = pair.value;
      offset = isEmptyScalar(node) ? keyOffset : (start(node) ?? keyOffset);
      parentKey = keyOffset;
    } else if (isSeq(node) && typeof segment === 'number' && segment < node.items.length) {
      node = node.items[segment];
      offset = start(node) ?? offset;
      parentKey = offset;
    } else {
      return offset;
    }
  }
  return offset;
}

function contains(node: unknown, offset: number): boolean {
  const range = (node as Node | null)?.range;
  return range !== undefined && range !== null && offset >= range[0] && offset < Math.max(range[2], range[0] + 1);
}

/** The field path of the innermost key or value that covers `offset`. */
export function pathAtOffset(doc: Document, offset: number): FieldPath {
  const path: FieldPath = [];
  let node: unknown = doc.contents;
  for (;;) {
    if (isMap(node)) {
      const pair = node.items.find((p) => contains(p.key, offset) || contains(p.value, offset));
      const key = pair === undefined ? null : keyText(pair);
      if (pair === undefined || key === null) return path;
      path.push(key);
      if (contains(pair.key, offset)) return path;
      node = pair.value;
    } else if (isSeq(node)) {
      const index = node.items.findIndex((item) => contains(item, offset));
      if (index < 0) return path;
      path.push(index);
      node = node.items[index];
    } else {
      return path;
    }
  }
}

const PLAIN_SEGMENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** environments.production.strategy.batch, run.command[1], environments["Prod env"]. */
export function formatPath(path: FieldPath): string {
  if (path.length === 0) return '(top level)';
  return path
    .map((s, i) => {
      if (typeof s === 'number') return `[${s}]`;
      if (!PLAIN_SEGMENT.test(s)) return `[${JSON.stringify(s)}]`;
      return i === 0 ? s : `.${s}`;
    })
    .join('');
}
