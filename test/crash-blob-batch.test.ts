// A blob batch sent with content-encoding: gzip to a server whose data disk is full
// (here: no inode left).
// The blob store fails before it reads a byte (it cannot make the batch's directory),
// so nothing reads the inflater the body is piped through; when that inflater then
// fails (the bytes are not gzip, or the connection closes under an unread body) its
// error, heard by no one, used to end the server. Now the batch is refused with
// E_DISK_FULL and the server stays up.
//
// Mounting a tmpfs needs root (the server runs as root here and in CI); elsewhere the
// test is skipped.

import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiFetch, scratchDir, shutdownEverything, startServerProcess, type ServerProcess } from './support/harness.ts';

const isRoot = process.getuid?.() === 0;

/** Makes empty files in `dir` until the file system has no inode left. */
function fillInodes(dir: string): void {
  mkdirSync(dir);
  for (let i = 0; ; i++) {
    try {
      closeSync(openSync(join(dir, String(i)), 'w'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOSPC') return;
      throw e;
    }
  }
}

describe.skipIf(!isRoot)('a gzip blob batch on a full data disk', { timeout: 120_000 }, () => {
  let work: string;
  let dataDir: string;
  let server: ServerProcess;
  let mounted = false;

  beforeAll(async () => {
    work = scratchDir();
    dataDir = join(work, 'data');
    mkdirSync(dataDir);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32m,nr_inodes=4000,mode=0700', 'tmpfs', dataDir]);
    mounted = true;
    server = await startServerProcess(dataDir, 'server.log');
  });

  afterAll(async () => {
    rmSync(join(dataDir, 'fill'), { recursive: true, force: true });
    await shutdownEverything(server?.url ?? null, dataDir);
    if (mounted) execFileSync('umount', ['-l', dataDir]);
    if (!process.env.KEEP_WORK) rmSync(work, { recursive: true, force: true });
  });

  it('is refused with E_DISK_FULL, and the server stays up', async () => {
    // Heard once before the disk fills: the token's last use is then recorded, not written again.
    expect((await apiFetch(`${server.url}/api/server`)).status).toBe(200);
    fillInodes(join(dataDir, 'fill'));
    for (let i = 0; i < 5; i++) {
      const res = await apiFetch(`${server.url}/api/blobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', 'x-slipway-service': 'hello', 'content-encoding': 'gzip' },
        body: Buffer.from('these bytes are not gzip at all\n'.repeat(64)),
      });
      const text = await res.text();
      expect(res.status, text).toBe(507);
      expect(JSON.parse(text).error.code).toBe('E_DISK_FULL');
      await new Promise((r) => setTimeout(r, 200));
      expect(server.child.exitCode).toBeNull();
    }
    expect((await apiFetch(`${server.url}/healthz`)).status).toBe(200);
  });
});
