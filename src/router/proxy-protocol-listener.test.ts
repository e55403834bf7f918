import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { readProxyProtocolOn, type ProxyRefusal } from './proxy-protocol-listener.ts';

/** A real HTTP server on 127.0.0.1 that answers with the client address it sees, behind the PROXY header reader. */
async function serve(headerTimeoutMs: number): Promise<{ server: Server; port: number; refused: ProxyRefusal[] }> {
  const server = createServer((req, res) => res.end(`${req.socket.remoteAddress}:${req.socket.remotePort}`));
  const refused: ProxyRefusal[] = [];
  readProxyProtocolOn(server, {
    settings: () => ({ mode: 'any', isTrusted: (peer) => peer === '127.0.0.1' }),
    onAccepted: () => {},
    onRefused: (reason) => refused.push(reason),
  }, { headerTimeoutMs });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { server, port: (server.address() as { port: number }).port, refused };
}

/** Sends the chunks `gapMs` apart on one connection; resolves with what came back once the server closes it (or after 3 s). */
function send(port: number, chunks: string[], gapMs = 0): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString()));
    socket.on('error', () => {});
    socket.on('close', () => resolve(text));
    socket.on('connect', async () => {
      for (const c of chunks) {
        socket.write(c);
        await new Promise((r) => setTimeout(r, gapMs));
      }
    });
    setTimeout(() => socket.destroy(), 3_000).unref();
  });
}

describe('reading the PROXY header in front of an HTTP server', () => {
  let server: Server | null = null;
  afterEach(() => {
    server?.closeAllConnections();
    server?.close();
  });

  it('reads a header split over several writes, then serves the request that follows as from the client it named', async () => {
    const s = await serve(2_000);
    server = s.server;
    const text = await send(s.port, ['PROXY TCP4 203.0', '.113.7 10.0.0.1 5555 80\r', '\nGET / HTTP/1.1\r\nHost: x\r\n', 'Connection: close\r\n\r\n'], 20);
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    expect(text).toContain('203.0.113.7:5555');
    expect(s.refused).toEqual([]);
  });

  it('closes a connection that sends half a header and then nothing, once its time is up', async () => {
    const s = await serve(300);
    server = s.server;
    const startedAt = Date.now();
    expect(await send(s.port, ['PROXY TCP4 203.0.113.7'])).toBe('');
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(250);
    expect(s.refused).toEqual(['timeout']);
  });
});
