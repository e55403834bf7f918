import { defineConfig } from 'vitest/config';
import LongestFirst from './test/support/longest-first.ts';

// Tests start real processes, routers and HTTP load; on a 2-core machine running
// more than two files at once only turns timing margins into flakes.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
    // Longest files first (test/durations.json), so no long file runs alone at the end.
    sequence: { sequencer: LongestFirst },
  },
});
