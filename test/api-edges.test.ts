// The API's edges against a real server: an artefact upload is counted as it
// streams (a chunked body past the limit is refused, nothing kept); a token put in
// a URL query never reaches the server's log whole; a revoked or expired token's
// open streams end.

import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminToken, apiFetch, scratchDir, waitFor, shutdownEverything, startServerProcess, type ServerProcess } from './support/harness.ts';

const LIMIT = 1024 * 1024;

describe('the API\'s edges', () => {
  let dataDir: string;
  let server: ServerProcess;

  beforeAll(async () => {
    dataDir = join(scratchDir(), '.slipway');
    server = await startServerProcess(dataDir, 'server.log', { ...process.env, SLIPWAY_MAX_UPLOAD_BYTES: String(LIMIT) });
  }, 60_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('refuses a chunked upload the moment it passes the limit, keeping no partial file', async () => {
    // A tar.gz (so the upload's format check lets it through) of random bytes, which
    // do not compress: twice the limit.
    const header = new Header({ path: 'big.bin', mode: 0o644, size: 2 * LIMIT, mtime: new Date(0), type: 'File' });
    header.encode();
    const whole = gzipSync(Buffer.concat([header.block!, randomBytes(2 * LIMIT)]));
    let sent = 0;
    // As a stream: fetch sends it chunked, with no Content-Length to check up front.
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= whole.length) return controller.close();
        controller.enqueue(whole.subarray(sent, sent + 64 * 1024));
        sent += 64 * 1024;
      },
    });
    const res = await apiFetch(`${server.url}/api/artefacts`, {
      method: 'POST', body, duplex: 'half',
      headers: { 'content-type': 'application/octet-stream', 'x-slipway-digest': `sha256:${'0'.repeat(64)}`, 'x-slipway-service': 'hello' },
    } as RequestInit);
    const answer = (await res.json()) as { error: { code: string; message: string; details: Record<string, unknown> } };
    expect(res.status).toBe(400);
    expect(answer.error.code).toBe('E_ARTEFACT_INVALID');
    expect(answer.error.message).toContain('maxUploadBytes');
    expect(answer.error.details).toMatchObject({ limit: 'maxUploadBytes', maxUploadBytes: LIMIT });
    expect(readdirSync(join(dataDir, 'tmp')).filter((f) => f.startsWith('upload-'))).toEqual([]);
    expect(readdirSync(join(dataDir, 'artefacts'))).toEqual([]);
  });

  it('logs a token sent in a URL query with its id only', async () => {
    const token = adminToken(dataDir)!;
    const [, id, secret] = /^slw_([0-9a-f]{16})_(.+)$/.exec(token)!;
    const res = await fetch(`${server.url}/api/environments?token=${token}`);
    expect(res.status).toBe(401); // a token is taken from the Authorization header only
    const log = () => readFileSync(join(dataDir, '..', 'server.log'), 'utf8');
    await waitFor('the request in the server log', () => log().includes(`slw_${id}_***`));
    expect(log()).not.toContain(secret);
  });

  it('ends a token\'s open event stream the moment it is revoked, and one that expires within a second or two', async () => {
    const admin = adminToken(dataDir)!;
    const make = async (expiresAt?: number) => {
      const res = await fetch(`${server.url}/api/tokens`, {
        method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ user: 'watcher', role: 'viewer', ...(expiresAt ? { expiresAt } : {}) }),
      });
      expect(res.status).toBe(201);
      return (await res.json()) as { token: string; id: string };
    };
    /** Opens the event stream and resolves with how long it stayed open once `after` ran. */
    const openStream = async (token: string) => {
      const res = await fetch(`${server.url}/api/events`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      return new Promise<void>((resolve) => {
        const pump = (): Promise<void> => reader.read().then((r) => (r.done ? resolve() : pump()), () => resolve());
        void pump();
      });
    };
    const revoked = await make();
    const ended = openStream(revoked.token);
    await new Promise((r) => setTimeout(r, 300));
    const rv = await fetch(`${server.url}/api/tokens/${revoked.id}/revoke`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: '{}' });
    expect(rv.status).toBe(200);
    await ended; // without the revocation it would stay open until the test timed out

    const expiring = await make(Date.now() + 1500);
    await openStream(expiring.token); // resolves only when the server ends it
  });
});
