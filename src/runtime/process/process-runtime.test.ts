// The process driver keeps the runtime contract, with real processes and the real log relay.
// Beyond it: what only this driver does (a stop's sweep of the session, run.memory).

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runtimeContract } from '../../../test/support/runtime-contract.ts';
import { isPidAlive, waitFor } from '../../../test/support/harness.ts';
import { logRelayCommand } from '../../observe/log-relay.ts';
import type { InstanceHandle, StartSpec } from '../../core/ports/runtime.ts';
import { ProcessRuntime } from './process-runtime.ts';

runtimeContract('process', async () => ({
  runtime: new ProcessRuntime({ logRelay: logRelayCommand() }),
  argv: (script) => [process.execPath, '-e', script],
  extra: { env: { LISTEN_HOST: '127.0.0.1', PATH: process.env.PATH ?? '/usr/bin:/bin' } },
}));

describe('process runtime', () => {
  const runtime = new ProcessRuntime({ logRelay: logRelayCommand() });
  const dir = mkdtempSync(join(tmpdir(), 'slipway-process-'));
  const started: InstanceHandle[] = [];
  const start = async (id: string, script: string, extra: Partial<StartSpec> = {}) => {
    const spec: StartSpec = {
      instanceId: id, releaseDir: dir, argv: [process.execPath, '-e', script], port: 0, logPath: join(dir, 'logs', `${id}.log`),
      env: { SLIPWAY_INSTANCE: id, PATH: process.env.PATH ?? '/usr/bin:/bin' }, redact: [],
      owner: { service: 'unit', env: 'test', release: 1 }, image: null, resources: null, ...extra,
    };
    const handle = await runtime.start(spec);
    started.push(handle);
    return { handle, spec };
  };
  afterAll(async () => {
    for (const h of started) await runtime.stop(h, { killTimeoutMs: 500 }).catch(() => undefined);
  });

  it('stops the children an instance started in sessions of their own, and nothing else', async () => {
    // Two setsid children, one of which ignores SIGTERM; and a bystander with a longer id that merely starts alike.
    const script = `
      const { spawn } = require('node:child_process');
      const kids = [spawn('setsid', ['sleep', '600'], { stdio: 'ignore' }),
                    spawn('setsid', [process.execPath, '-e', 'process.on("SIGTERM", () => {}); setInterval(() => {}, 1000)'], { stdio: 'ignore' })];
      Promise.all(kids.map((k) => new Promise((r) => k.once('spawn', r)))).then(() => console.log(JSON.stringify(kids.map((k) => k.pid))));
      setInterval(() => {}, 1000);`;
    const { handle, spec } = await start('unit-1-aaaaaa', script);
    const bystander = await start('unit-1-aaaaaab', 'setInterval(() => {}, 1000)');
    let kids: number[] = [];
    await waitFor('the children to start', async () => {
      const line = readFileSync(spec.logPath, 'utf8').split('\n').find((l) => l.includes('['));
      kids = line ? (JSON.parse((JSON.parse(line) as { msg: string }).msg) as number[]) : [];
      return kids.length === 2;
    });
    expect(kids.every(isPidAlive)).toBe(true);
    await runtime.stop(handle, { killTimeoutMs: 500, instanceId: spec.instanceId });
    expect(kids.filter(isPidAlive)).toEqual([]);
    expect(await runtime.isRunning(bystander.handle)).toBe(true);
  });

  it('kills an instance whose memory passes run.memory, saying why in its log', async () => {
    const script = 'const keep = []; setInterval(() => keep.push(Buffer.alloc(16 * 1024 * 1024, 1)), 50);';
    const { handle, spec } = await start('unit-2-bbbbbb', script, { resources: { memoryBytes: 64 * 1024 * 1024, cpus: null } });
    await waitFor('the instance to be killed', async () => !(await runtime.isRunning(handle)), 15_000);
    await runtime.flushOutput(spec.instanceId, 2000);
    expect(readFileSync(spec.logPath, 'utf8')).toMatch(/killed instance unit-2-bbbbbb: its processes used \d+ MiB of memory, above run\.memory 64 MiB/);
  });
});
