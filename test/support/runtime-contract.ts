// The contract every runtime driver keeps, as one suite each driver runs against
// the real thing (local processes, a real Docker engine): start, is running, found
// by id, usage, output into the log with secrets masked, stop (graceful, and killed
// after the kill timeout), safe to repeat.

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstanceHandle, Runtime, StartSpec } from '../../src/core/ports/runtime.ts';
import { freePort, waitFor } from './harness.ts';

export interface ContractSetup {
  runtime: Runtime;
  /** The argv that runs `script` with node in this runtime. */
  argv(script: string): string[];
  /** Whatever else a start needs: an image; env with LISTEN_HOST, where the service listens. */
  extra: Partial<StartSpec>;
  cleanup?(): Promise<void>;
}

const SECRET = 'contract-secret-6f1b9e';
// Answers on PORT; prints its secret once; handles SIGTERM unless told to ignore it.
const service = (ignoreTerm: boolean) => `
const http = require('node:http');
console.log('token=' + process.env.TOKEN);
http.createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), process.env.LISTEN_HOST, () => console.log('listening'));
process.on('SIGTERM', () => { ${ignoreTerm ? "console.log('ignoring SIGTERM');" : "console.log('bye'); process.exit(0);"} });
`;

export function runtimeContract(name: string, setupFn: () => Promise<ContractSetup>): void {
  describe(`runtime contract: ${name}`, () => {
    let s: ContractSetup;
    let dir: string;
    const started: InstanceHandle[] = [];
    const start = async (id: string, ignoreTerm = false) => {
      const port = await freePort();
      const { env: extraEnv, ...extra } = s.extra;
      const spec: StartSpec = {
        instanceId: id, releaseDir: dir, argv: s.argv(service(ignoreTerm)), port, logPath: join(dir, 'logs', `${id}.log`),
        env: { PORT: String(port), TOKEN: SECRET, SLIPWAY_INSTANCE: id, ...extraEnv },
        redact: [SECRET], owner: { service: 'contract', env: 'test', release: 1 }, image: null, resources: null, ...extra,
      };
      const handle = await s.runtime.start(spec);
      started.push(handle);
      await waitFor(`${id} to answer`, async () => (await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) }).then((r) => r.text()).catch(() => '')) === 'ok');
      return { handle, spec };
    };

    beforeAll(async () => {
      s = await setupFn();
      dir = mkdtempSync(join(tmpdir(), 'slipway-contract-'));
    });

    afterAll(async () => {
      for (const h of started) await s?.runtime.stop(h, { killTimeoutMs: 1000 }).catch(() => undefined);
      await s?.cleanup?.();
    });

    it('a started instance is running, found by its id, and uses CPU and memory; stopped, it is gone, and a second stop is harmless', async () => {
      const { handle } = await start('contract-1-aaaaaa');
      expect(await s.runtime.isRunning(handle)).toBe(true);
      expect(await s.runtime.findById('contract-1-aaaaaa')).toMatchObject({ pid: handle.pid, ref: handle.ref });
      expect(await s.runtime.findById('contract-1-nobody')).toBeNull();
      const usage = await s.runtime.usage(handle);
      expect(usage?.cpuSeconds).toBeGreaterThan(0);
      expect(usage?.rssBytes).toBeGreaterThan(1024 * 1024);
      expect(await s.runtime.stop(handle, { killTimeoutMs: 5000 })).toEqual({ killed: false });
      expect(await s.runtime.isRunning(handle)).toBe(false);
      expect(await s.runtime.usage(handle)).toBeNull();
      expect(await s.runtime.stop(handle, { killTimeoutMs: 5000 })).toEqual({ killed: false });
    });

    it('its output reaches its log file with its secrets masked, complete once flushOutput resolves', async () => {
      const { handle, spec } = await start('contract-1-bbbbbb');
      await s.runtime.stop(handle, { killTimeoutMs: 5000 });
      await s.runtime.flushOutput('contract-1-bbbbbb', 5000);
      const log = readFileSync(spec.logPath, 'utf8');
      expect(log).toContain('token=***');
      expect(log).toContain('listening');
      expect(log).toContain('bye');
      expect(log).not.toContain(SECRET);
    });

    it('an instance that ignores SIGTERM is killed after the kill timeout, and stop says so', async () => {
      const { handle } = await start('contract-1-cccccc', true);
      const t0 = performance.now();
      expect(await s.runtime.stop(handle, { killTimeoutMs: 1000 })).toEqual({ killed: true });
      expect(performance.now() - t0).toBeGreaterThanOrEqual(900);
      expect(await s.runtime.isRunning(handle)).toBe(false);
    });
  });
}
