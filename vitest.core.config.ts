import { defineConfig } from 'vitest/config';

// The unit tests of src/core, for mutation testing (stryker.config.mjs): pure
// functions, no processes, no ports. Stryker runs them once per mutant, so the
// A/A simulations stay out: 1000 runs of 120 simulated seconds per case turn every
// mutant of the analysis into a minute-long run. They still run in `npm test`.
export default defineConfig({
  test: {
    include: ['src/core/**/*.test.ts'],
    exclude: ['src/core/analysis/simulate-analysis.test.ts'],
    reporters: ['default'],
    // Instrumented for mutation, the property tests run several times slower.
    testTimeout: 60_000,
  },
});
