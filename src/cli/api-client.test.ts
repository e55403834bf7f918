// What the CLI says when a call gets no answer: a server that is down, and one that
// took the request and is still at it (fetch stops waiting for its answer at 300 s),
// and how long a deploy waits for the server to make its release.

import { createServer, type Server } from 'node:http';
import { Agent, fetch } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient, unreachableMessage } from './api-client.ts';
import { SlipwayError } from '../core/errors.ts';

let server: Server | null = null;
afterEach(() => {
  server?.closeAllConnections();
  server?.close();
  server = null;
});

async function failureOf(url: string, headersTimeout: number): Promise<unknown> {
  try {
    await fetch(url, { method: 'POST', body: '{}', dispatcher: new Agent({ headersTimeout }) });
  } catch (e) {
    return e;
  }
  throw new Error('the call was answered');
}

describe('unreachableMessage', () => {
  it('says a server that took the request but sent no answer may still be at the work, not that it is unreachable', async () => {
    // A server that reads the request and never answers, as one busy for longer than fetch waits.
    server = createServer(() => {});
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const e = await failureOf(`${base}/api/environments/shop%2Fproduction/deploys?x=1`, 200);
    const message = unreachableMessage(base, 'POST', '/api/environments/shop%2Fproduction/deploys?x=1', e);
    expect(message).toBe(`the slipway server at ${base} gave no answer to POST /api/environments/shop%2Fproduction/deploys within 300 s; it may still be at the work: see \`slipway status\` and the server's log`);
  });

  it('says a server that refuses the connection is unreachable, and asks whether it runs', async () => {
    server = createServer(() => {});
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    await new Promise<void>((r) => server!.close(() => r()));
    server = null;
    const message = unreachableMessage(base, 'GET', '/api/server', await failureOf(`${base}/api/server`, 200));
    expect(message).toMatch(new RegExp(`^cannot reach the slipway server at ${base}: .*ECONNREFUSED.*; is \`slipway server\` running\\?$`));
  });
});

describe('a deploy waits for the server to make the release', () => {
  /** A server that answers a deploy after `ms`, as one unpacking a large artefact or building an image. */
  async function slowDeployServer(ms: number): Promise<string> {
    server = createServer((req, res) => {
      setTimeout(() => {
        res.writeHead(201, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ release: { number: 7 }, unchanged: true, rollout: null }));
      }, ms);
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  }

  it('takes an answer that comes after the wait other calls have, within its own', async () => {
    const base = await slowDeployServer(1500);
    const answer = await new ApiClient(base, null, 'shop', { makeReleaseWaitMs: 5000 }).deploy('production', {} as never);
    expect(answer).toMatchObject({ release: { number: 7 }, unchanged: true });
  });

  it('stops waiting at its own wait and says the server may still be at it', async () => {
    const base = await slowDeployServer(3000);
    const e = await new ApiClient(base, null, 'shop', { makeReleaseWaitMs: 500 }).deploy('production', {} as never).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SlipwayError);
    expect((e as SlipwayError).code).toBe('E_SERVER_UNREACHABLE');
    expect((e as Error).message).toBe(`the slipway server at ${base} gave no answer to POST /api/environments/shop%2Fproduction/deploys within 0.5 s; it may still be at the work: see \`slipway status\` and the server's log`);
  });
});
