// Each test file gets a register of running servers of its own
// (store/server-register.ts), so the servers one file starts are never found by
// another file's CLI, and nothing is written to the machine's /run/slipway.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'slipway-run-'));
process.env.SLIPWAY_RUNTIME_DIR = dir;
afterAll(() => rmSync(dir, { recursive: true, force: true }));
