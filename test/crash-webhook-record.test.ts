// A webhook delivery that fails while the data disk is full: the failure is logged,
// then recorded in the state database, and that write fails (SQLITE_FULL). The
// notifier's queue is run without being awaited, so the rejection, handled by no
// one, used to end the server (node 20 ends a process on an unhandled rejection).
// Now the failure that could not be recorded is said in the log, and the server
// stays up.
//
// Mounting a tmpfs needs root (the server runs as root here and in CI); elsewhere the
// test is skipped.

import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowInPolicy, LOOPBACK_ALLOWED } from './support/admin-policy.ts';
import { apiFetch, freePort, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';

const isRoot = process.getuid?.() === 0;

/** Writes into `file` until the file system refuses. */
function fillDisk(file: string): void {
  const fd = openSync(file, 'w');
  try {
    for (const size of [1024 * 1024, 65536, 4096, 512, 1]) {
      const chunk = Buffer.alloc(size);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
      }
    }
  } finally {
    closeSync(fd);
  }
}

describe.skipIf(!isRoot)('a webhook delivery failing on a full data disk', { timeout: 180_000 }, () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let receiver: Server;
  const held: ServerResponse[] = [];
  let mounted = false;

  beforeAll(async () => {
    work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, 'data');
    mkdirSync(dataDir);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0700', 'tmpfs', dataDir]);
    mounted = true;
    // Holds each delivery until the test answers it.
    receiver = createServer((req, res) => {
      req.resume();
      held.push(res);
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    server = await startServerProcess(dataDir, 'server.log');
    await allowInPolicy({ cwd: work, dataDir, yaml: LOOPBACK_ALLOWED });
    writeService(app, { envs: { staging: { instances: 1, port: await freePort(), extraYaml: `notifications:\n  - url: ${hook}\n    events: [rollout.started]\n    timeout: 60s\n    attempts: 1` } } });
    const r = await runCli(['deploy', 'staging'], { cwd: app, dataDir, timeoutMs: 120_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  afterAll(async () => {
    for (const res of held) res.destroy();
    receiver?.close();
    rmSync(join(dataDir, 'fill'), { force: true });
    await shutdownEverything(server?.url ?? null, dataDir);
    if (mounted) execFileSync('umount', ['-l', dataDir]);
    if (!process.env.KEEP_WORK) rmSync(work, { recursive: true, force: true });
  });

  it('says in the log that the failure could not be recorded, and the server stays up', async () => {
    await waitFor('the webhook delivery', () => held.length > 0, 30_000);
    fillDisk(join(dataDir, 'fill'));
    held[0]!.writeHead(500).end();
    const log = join(work, 'server.log');
    await waitFor('the failed delivery in the log', () => readFileSync(log, 'utf8').includes('webhook delivery failed'), 10_000);
    await new Promise((r) => setTimeout(r, 1000));
    expect(server.child.exitCode, readFileSync(log, 'utf8').slice(-3000)).toBeNull();
    expect(readFileSync(log, 'utf8')).toMatch(/the failed webhook delivery could not be recorded/);
    rmSync(join(dataDir, 'fill'));
    expect((await apiFetch(`${server.url}/healthz`)).status).toBe(200);
  });
});
