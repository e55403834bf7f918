// HTTP/1.1 as bytes, for tests that play a hostile client or a broken backend
// against the router: a raw TCP backend that records exactly what it receives and
// answers what it is told, a raw client socket, and strict parsers that say how
// many messages a stream of bytes holds. Strict on purpose: they accept only the
// framing RFC 9112 defines, so bytes a lenient parser might read as a second
// message show up as a leftover or an error, never as a quiet pass.

import { createServer, connect, type Server, type Socket } from 'node:net';
import { freePort } from '../../src/router/test-upstream.ts';

export interface RawMessage {
  /** The start line: `GET / HTTP/1.1` or `HTTP/1.1 200 OK`. */
  start: string;
  /** [name as sent, value without surrounding whitespace], in order. */
  headers: Array<[string, string]>;
  body: Buffer;
}

export interface Parsed {
  messages: RawMessage[];
  /** Bytes after the last complete message (an incomplete one, or garbage). */
  rest: Buffer;
  /** Why parsing stopped at `rest`, when it was not just incomplete. */
  error?: string;
}

export function header(m: RawMessage, name: string): string[] {
  return m.headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
}

/**
 * Splits `bytes` into requests (`kind: 'request'`) or responses. A response's framing
 * depends on its request: `heads` lists, per response, whether it answers a HEAD.
 * `isClosed`: the sender closed, so a response without a length ends there.
 */
export function parseMessages(bytes: Buffer, o: { kind: 'request' | 'response'; heads?: boolean[]; isClosed?: boolean }): Parsed {
  const messages: RawMessage[] = [];
  let at = 0;
  for (;;) {
    if (at === bytes.length) return { messages, rest: Buffer.alloc(0) };
    const headEnd = bytes.indexOf('\r\n\r\n', at, 'latin1');
    if (headEnd < 0) return { messages, rest: bytes.subarray(at) };
    const lines = bytes.subarray(at, headEnd).toString('latin1').split('\r\n');
    const start = lines[0]!;
    const headers: Array<[string, string]> = [];
    for (const line of lines.slice(1)) {
      const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/.exec(line);
      if (m === null || /[\r\n\0]/.test(line)) return { messages, rest: bytes.subarray(at), error: `bad header line ${JSON.stringify(line)}` };
      headers.push([m[1]!, m[2]!]);
    }
    const bodyAt = headEnd + 4;
    const m: RawMessage = { start, headers, body: Buffer.alloc(0) };
    const lengths = header(m, 'content-length');
    const codings = header(m, 'transfer-encoding');
    if (lengths.length > 0 && codings.length > 0) return { messages, rest: bytes.subarray(at), error: 'both Content-Length and Transfer-Encoding' };
    if (lengths.length > 1 || (lengths.length === 1 && !/^\d+$/.test(lengths[0]!))) return { messages, rest: bytes.subarray(at), error: `bad Content-Length ${JSON.stringify(lengths)}` };
    if (codings.length > 1 || (codings.length === 1 && codings[0]!.toLowerCase() !== 'chunked')) return { messages, rest: bytes.subarray(at), error: `transfer coding ${JSON.stringify(codings)}` };
    let end = bodyAt;
    const status = o.kind === 'response' ? Number(start.split(' ')[1]) : 0;
    const isInformational = status >= 100 && status < 200;
    const hasNoBody = o.kind === 'response' && (isInformational || status === 204 || status === 304 || o.heads?.[messages.filter((x) => !isInformationalStart(x.start)).length] === true);
    if (hasNoBody) {
      end = bodyAt;
    } else if (codings.length === 1) {
      const chunks = parseChunked(bytes, bodyAt);
      if (chunks === 'incomplete') return { messages, rest: bytes.subarray(at) };
      if (typeof chunks === 'string') return { messages, rest: bytes.subarray(at), error: chunks };
      m.body = chunks.body;
      end = chunks.end;
    } else if (lengths.length === 1) {
      end = bodyAt + Number(lengths[0]);
      if (end > bytes.length) return { messages, rest: bytes.subarray(at) };
      m.body = bytes.subarray(bodyAt, end);
    } else if (o.kind === 'response') {
      // Delimited by the close: complete only once the sender closed.
      if (!o.isClosed) return { messages, rest: bytes.subarray(at) };
      end = bytes.length;
      m.body = bytes.subarray(bodyAt);
    }
    messages.push(m);
    at = end;
  }
}

function isInformationalStart(start: string): boolean {
  return /^HTTP\/1\.[01] 1\d\d/.test(start);
}

function parseChunked(bytes: Buffer, from: number): { body: Buffer; end: number } | 'incomplete' | string {
  const parts: Buffer[] = [];
  let at = from;
  for (;;) {
    const lineEnd = bytes.indexOf('\r\n', at, 'latin1');
    if (lineEnd < 0) return 'incomplete';
    const line = bytes.subarray(at, lineEnd).toString('latin1');
    if (!/^[0-9a-fA-F]{1,8}$/.test(line)) return `bad chunk size line ${JSON.stringify(line)}`;
    const size = parseInt(line, 16);
    at = lineEnd + 2;
    if (size === 0) {
      // Trailers (the router sends none): the message ends at an empty line.
      if (bytes.length < at + 2) return 'incomplete';
      if (bytes.toString('latin1', at, at + 2) !== '\r\n') return 'trailers in a chunked body';
      return { body: Buffer.concat(parts), end: at + 2 };
    }
    if (bytes.length < at + size + 2) return 'incomplete';
    parts.push(bytes.subarray(at, at + size));
    if (bytes.toString('latin1', at + size, at + size + 2) !== '\r\n') return 'chunk not followed by CRLF';
    at += size + 2;
  }
}

/** What the raw backend answers to one request it parsed; `null`: nothing (hang), a string or bytes: written as they are. */
export type RawReply = (req: RawMessage, socket: Socket) => string | Buffer | null;

export interface RawBackend {
  id: string;
  url: string;
  /** The bytes of each connection, in the order the connections came. */
  readonly connections: Array<{ bytes: Buffer }>;
  /** Every request parsed from them, in order of arrival. */
  readonly requests: RawMessage[];
  /** What a connection held that did not parse as a request. */
  readonly errors: string[];
  /** How the next requests are answered; the default answers 200 `ok N`, kept alive. */
  reply: RawReply;
  /** Forgets what was received and answers with the default again. */
  reset(): void;
  close(): Promise<void>;
}

export const okReply: RawReply = (req) => {
  const body = `ok ${req.start.split(' ')[1]}`;
  return `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
};

/** A backend on a raw TCP socket: it parses strictly what reaches it and answers with `reply`. */
export async function startRawBackend(id: string): Promise<RawBackend> {
  const sockets = new Set<Socket>();
  const backend: RawBackend = {
    id,
    url: '',
    connections: [],
    requests: [],
    errors: [],
    reply: okReply,
    reset() {
      backend.connections.length = 0;
      backend.requests.length = 0;
      backend.errors.length = 0;
      backend.reply = okReply;
    },
    close: async () => {},
  };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    // Its own record: a reset() while the connection lives starts a new list, not a hole in it.
    const received = { bytes: Buffer.alloc(0) };
    backend.connections.push(received);
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      received.bytes = Buffer.concat([received.bytes, d]);
      pending = Buffer.concat([pending, d]);
      const parsed = parseMessages(pending, { kind: 'request' });
      pending = parsed.rest;
      if (parsed.error !== undefined) backend.errors.push(parsed.error);
      for (const req of parsed.messages) {
        backend.requests.push(req);
        const answer = backend.reply(req, socket);
        if (answer !== null && !socket.destroyed) socket.write(answer);
      }
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  backend.url = `http://127.0.0.1:${port}`;
  backend.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return backend;
}

export interface RawExchange {
  /** Every byte the router sent back. */
  bytes: Buffer;
  text: string;
  /** Whether the router closed the connection (within the wait). */
  isClosed: boolean;
  responses: RawMessage[];
  /** Bytes after the last complete response, and why, if they do not parse. */
  rest: Buffer;
  error?: string;
}

/**
 * Sends `parts` on one connection (a pause of `gapMs` between parts) and reads until
 * the router closes it, or `responses` complete responses arrived and 150 ms more
 * brought nothing, or `timeoutMs` passed.
 */
export function rawExchange(port: number, parts: Array<string | Buffer>, o: { responses?: number; heads?: boolean[]; gapMs?: number; timeoutMs?: number } = {}): Promise<RawExchange> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let bytes = Buffer.alloc(0);
    let quietTimer: NodeJS.Timeout | null = null;
    const finish = (isClosed: boolean): void => {
      clearTimeout(deadline);
      if (quietTimer !== null) clearTimeout(quietTimer);
      socket.destroy();
      const parsed = parseMessages(bytes, { kind: 'response', heads: o.heads, isClosed });
      resolve({ bytes, text: bytes.toString('latin1'), isClosed, responses: parsed.messages, rest: parsed.rest, ...(parsed.error === undefined ? {} : { error: parsed.error }) });
    };
    const deadline = setTimeout(() => finish(false), o.timeoutMs ?? 5_000);
    socket.on('data', (d: Buffer) => {
      bytes = Buffer.concat([bytes, d]);
      if (o.responses === undefined) return;
      const finals = parseMessages(bytes, { kind: 'response', heads: o.heads }).messages.filter((m) => !isInformationalStart(m.start));
      if (finals.length < o.responses) return;
      if (quietTimer !== null) clearTimeout(quietTimer);
      quietTimer = setTimeout(() => finish(false), 150);
    });
    socket.on('close', () => finish(true));
    socket.on('error', () => {});
    socket.once('connect', async () => {
      for (const [i, part] of parts.entries()) {
        if (i > 0 && o.gapMs) await new Promise((r) => setTimeout(r, o.gapMs));
        if (socket.destroyed) return;
        socket.write(part);
      }
    });
  });
}
