// Test files in order of how long they took last time (test/durations.json),
// longest first: with two workers, a 6-minute file started last would run alone
// at the end. Files not listed (new ones) go first among the short ones: they
// may be long. `node test/support/record-durations.mjs` rewrites the list from
// the durations vitest kept of the last full run.

import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const UNKNOWN_S = 30;

export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    let seconds: Record<string, number> = {};
    try {
      seconds = JSON.parse(readFileSync(join(root, 'test', 'durations.json'), 'utf8')) as Record<string, number>;
    } catch {
      return super.sort(files);
    }
    const of = (f: TestSpecification) => seconds[relative(root, f.moduleId)] ?? UNKNOWN_S;
    return [...files].sort((a, b) => of(b) - of(a));
  }
}
