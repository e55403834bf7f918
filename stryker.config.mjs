// Mutation testing of src/core: `npm run mutate`. Too slow for CI's default run
// (minutes, not seconds), so it is a script of its own; it fails below 90%.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.core.config.ts' },
  // simulate-analysis.ts is the traffic simulator of the A/A tests and a bench; the
  // controller never runs it, and its tests are left out (see vitest.core.config.ts).
  mutate: ['src/core/**/*.ts', '!src/core/**/*.test.ts', '!src/core/analysis/simulate-analysis.ts'],
  // The sandbox holds only what the core tests read: core imports nothing else of
  // ours, and other folders may be half-edited by someone while this runs.
  ignorePatterns: ['/*', '!/src', '/src/*', '!/src/core', '!/package.json', '!/tsconfig.json', '!/vitest.core.config.ts'],
  coverageAnalysis: 'perTest',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  thresholds: { high: 95, low: 90, break: 90 },
};
