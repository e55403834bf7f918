// Files the router keeps in its state dir (router.json, routes.json, admin.secret)
// are replaced, never rewritten in place: a reader, or the router after kill -9 or a
// power cut, sees either the old content or the new one, never half of it.

import { readFile } from 'node:fs/promises';
import { writeFileAtomic as writeWhole } from '../platform/atomic-file.ts';

/** Replaces `path` with `data` (see platform/atomic-file.ts); `mode` (owner-only unless asked) is set at creation, so the file is never readable by others, not even for a moment. */
export function writeFileAtomic(path: string, data: string, mode = 0o600): Promise<void> {
  return writeWhole(path, data, { mode });
}

/** The parsed JSON of a file, or undefined when the file does not exist. Throws on bad JSON. */
export async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return JSON.parse(text) as unknown;
}
