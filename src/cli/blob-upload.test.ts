// A blob batch the server refuses part-way (a limit passed, a file that changed
// since it was hashed, a full disk) ends the upload with the server's refusal. The
// server answers without reading the rest, and fetch then neither reads nor cancels
// the rest of the request body: the upload must stop feeding it by itself.

import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../platform/test-ports.ts';
import { ApiClient } from './api-client.ts';
import { sendMissingBlobs } from './blob-upload.ts';
import type { FileManifest } from './file-manifest.ts';

/** Answers 422 once `after` bytes of the batch have come, and reads no more of it; the connection stays open. */
async function refusingServer(after: number): Promise<{ server: Server; url: string; received: () => number }> {
  let received = 0;
  const server = createServer((req, res) => {
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received < after || res.headersSent) return;
      req.pause();
      res.writeHead(422, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'E_ARTEFACT_TAMPERED', message: 'blob 00… was sent with bytes that hash to 11…', details: {} } }));
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${port}`, received: () => received };
}

describe('sending the blobs a server lacks', () => {
  let dir: string;
  let server: Server | null = null;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'slipway-blob-upload-'));
  });

  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r) ?? r(undefined));
    server = null;
    rmSync(dir, { recursive: true, force: true });
  });

  it('ends with the server\'s refusal when it refuses the batch before reading all of it', async () => {
    // 32 MiB that gzip cannot shrink: far more than the socket buffers hold once the server stops reading.
    const sources: FileManifest['sources'] = new Map();
    for (let i = 0; i < 32; i++) {
      const bytes = randomBytes(1024 * 1024);
      const path = `f${i}.bin`;
      writeFileSync(join(dir, path), bytes);
      sources.set(createHash('sha256').update(bytes).digest('hex'), { absolutePath: join(dir, path), path, size: bytes.length });
    }
    const refusing = await refusingServer(256 * 1024);
    server = refusing.server;
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      sendMissingBlobs(new ApiClient(refusing.url), 'hello', [...sources.keys()], sources).then(() => 'sent', (e: unknown) => e),
      new Promise((resolve) => (timer = setTimeout(() => resolve('still sending after 20 s'), 20_000))),
    ]);
    clearTimeout(timer);
    expect(outcome).toMatchObject({ code: 'E_ARTEFACT_TAMPERED' });
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(refusing.received()).toBeLessThan(32 * 1024 * 1024);
  }, 30_000);
});
