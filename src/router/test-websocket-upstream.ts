// Test support (not used by the router): a WebSocket echo backend on 127.0.0.1
// port 0, written out (RFC 6455 handshake and framing) so that tests need no
// WebSocket library on the server side; the client side is undici's WebSocket.
// It also answers plain HTTP: `GET /` with its id, `/events?n=N&ms=M` with an event
// stream of N events M ms apart (N=0: endless), `/slow?ms=N` after N ms.

import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';

export interface WebSocketUpstream {
  id: string;
  url: string;
  server: Server;
  /** WebSocket connections open on this backend now. */
  readonly open: Set<Socket>;
  /** Upgrade requests' headers as received (the latest last). */
  readonly upgradeHeaders: Record<string, string | string[] | undefined>[];
  kill(): Promise<void>;
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export async function startWebSocketUpstream(id: string): Promise<WebSocketUpstream> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    res.setHeader('x-upstream-id', id);
    if (url.pathname === '/events') streamEvents(res, Number(url.searchParams.get('n') ?? '0'), Number(url.searchParams.get('ms') ?? '100'));
    else if (url.pathname === '/slow') setTimeout(() => res.end(id), Number(url.searchParams.get('ms') ?? '500'));
    else res.end(id);
  });
  const up: WebSocketUpstream = { id, url: '', server, open: new Set(), upgradeHeaders: [], kill: async () => {} };
  server.on('upgrade', (req, socket: Socket, head: Buffer) => {
    up.upgradeHeaders.push(req.headers);
    const key = req.headers['sec-websocket-key'];
    if (req.headers.upgrade?.toLowerCase() !== 'websocket' || typeof key !== 'string') {
      socket.end('HTTP/1.1 426 Upgrade Required\r\ncontent-type: text/plain\r\ncontent-length: 14\r\nconnection: close\r\n\r\nwebsocket only');
      return;
    }
    const accept = createHash('sha1').update(key + GUID).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nx-upstream-id: ${id}\r\n\r\n`);
    up.open.add(socket);
    socket.on('close', () => up.open.delete(socket));
    socket.on('error', () => {});
    // node's http sockets allow half-open: a peer's FIN alone would leave this one open.
    socket.on('end', () => socket.end());
    echoFrames(socket, head, id);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  up.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  up.kill = () =>
    new Promise<void>((resolve) => {
      for (const s of up.open) s.destroy();
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return up;
}

function streamEvents(res: import('node:http').ServerResponse, n: number, everyMs: number): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
  res.flushHeaders();
  let sent = 0;
  const timer = setInterval(() => {
    res.write(`data: ${sent++}\n\n`);
    if (n > 0 && sent >= n) {
      clearInterval(timer);
      res.end();
    }
  }, everyMs);
  res.on('close', () => clearInterval(timer));
}

/**
 * Reads client frames (always masked) and answers each text or binary message with
 * the same payload, a ping with a pong, a close with a close. A text message
 * "whoami" is answered with the backend's id instead.
 */
function echoFrames(socket: Socket, head: Buffer, id: string): void {
  let buffer = head;
  const onData = (chunk: Buffer): void => {
    buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
    for (;;) {
      const frame = readFrame(buffer);
      if (frame === null) return;
      buffer = buffer.subarray(frame.length);
      if (frame.opcode === 0x8) {
        socket.end(writeFrame(0x8, frame.payload));
        return;
      }
      if (frame.opcode === 0x9) socket.write(writeFrame(0xa, frame.payload));
      else if (frame.opcode === 0x1 || frame.opcode === 0x2) {
        const payload = frame.opcode === 0x1 && frame.payload.toString() === 'whoami' ? Buffer.from(id) : frame.payload;
        socket.write(writeFrame(frame.opcode, payload));
      }
    }
  };
  socket.on('data', onData);
  if (head.length > 0) onData(Buffer.alloc(0));
}

function readFrame(b: Buffer): { opcode: number; payload: Buffer; length: number } | null {
  if (b.length < 2) return null;
  const opcode = b[0]! & 0x0f;
  const masked = (b[1]! & 0x80) !== 0;
  let len = b[1]! & 0x7f;
  let offset = 2;
  if (len === 126) {
    if (b.length < 4) return null;
    len = b.readUInt16BE(2);
    offset = 4;
  } else if (len === 127) {
    if (b.length < 10) return null;
    len = Number(b.readBigUInt64BE(2));
    offset = 10;
  }
  const maskAt = offset;
  if (masked) offset += 4;
  if (b.length < offset + len) return null;
  const payload = Buffer.from(b.subarray(offset, offset + len));
  if (masked) for (let i = 0; i < len; i++) payload[i]! ^= b[maskAt + (i % 4)]!;
  return { opcode, payload, length: offset + len };
}

function writeFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x80 | opcode, len]) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (len >= 126 && len < 65536) {
    head[0] = 0x80 | opcode;
    head[1] = 126;
    head.writeUInt16BE(len, 2);
  } else if (len >= 65536) {
    head[0] = 0x80 | opcode;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([head, payload]);
}
