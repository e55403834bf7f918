import { configDefaults, defineConfig } from 'vitest/config';
import LongestFirst from './test/support/longest-first.ts';

// The files that start Docker containers. Each container start or stop adds or
// removes a network interface on the host, and Chromium fails whatever it is
// loading at that moment with net::ERR_NETWORK_CHANGED (the dashboard's scripts,
// say). So they run as a group of their own, before the rest: never beside a
// browser test.
const DOCKER = ['test/docker-deploys.test.ts', 'test/fleet-contract.test.ts', 'src/runtime/docker/docker-runtime.test.ts'];

// Tests start real processes, routers and HTTP load; on a 2-core machine running
// more than two files at once only turns timing margins into flakes.
export default defineConfig({
  test: {
    maxWorkers: 2,
    testTimeout: 60_000,
    setupFiles: ['test/support/private-server-register.ts'],
    hookTimeout: 60_000,
    reporters: ['default'],
    // Longest files first (test/durations.json), so no long file runs alone at the end.
    sequence: { sequencer: LongestFirst },
    projects: [
      { extends: true, test: { name: 'docker', include: DOCKER, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'local', include: ['src/**/*.test.ts', 'test/**/*.test.ts'], exclude: [...configDefaults.exclude, ...DOCKER], sequence: { groupOrder: 1 } } },
    ],
  },
});
