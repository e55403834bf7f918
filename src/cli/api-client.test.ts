// What the CLI says when a call gets no answer: a server that is down, and one that
// took the request and is still at it (fetch stops waiting for its answer at 300 s).

import { createServer, type Server } from 'node:http';
import { Agent, fetch } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { unreachableMessage } from './api-client.ts';

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
