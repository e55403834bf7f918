// Test support (not used by the router): small real backends on 127.0.0.1 port 0
// that answer with their id, plus a concurrent HTTP load helper.

import { createServer, type IncomingMessage, type Server } from 'node:http';
import { Agent, request } from 'undici';

export interface TestUpstream {
  id: string;
  url: string;
  port: number;
  server: Server;
  /** Requests received so far. */
  hits: number;
  /** Stops accepting and cuts every open connection, like an instance that died. */
  kill(): Promise<void>;
}

/**
 * Answers `GET /` with its id, `/slow?ms=N` after N ms, `/echo` with the method,
 * path, headers and body it received as JSON, `/status/N` with status N, `/hop`
 * with hop-by-hop headers a proxy must not pass on, `/stream` with an endless body.
 */
export async function startTestUpstream(id: string): Promise<TestUpstream> {
  const up: TestUpstream = { id, url: '', port: 0, server: createServer(), hits: 0, kill: async () => {} };
  up.server.on('request', (req, res) => {
    up.hits++;
    const url = new URL(req.url ?? '/', 'http://x');
    res.setHeader('x-upstream-id', id);
    if (url.pathname === '/slow') {
      setTimeout(() => res.end(id), Number(url.searchParams.get('ms') ?? '500'));
    } else if (url.pathname === '/echo') {
      readAll(req).then(
        (body) => {
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ id, method: req.method, path: req.url, headers: req.headers, body }));
        },
        () => res.destroy(), // the request was cut before its body ended
      );
    } else if (url.pathname === '/stream') {
      // An endless body, written as fast as the reader takes it.
      const chunk = Buffer.alloc(64 * 1024, 120);
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    } else if (url.pathname === '/hop') {
      res.setHeader('keep-alive', 'timeout=1');
      res.setHeader('proxy-note', 'for the proxy only');
      res.setHeader('x-kept', 'yes');
      res.end(id);
    } else if (url.pathname.startsWith('/status/')) {
      res.statusCode = Number(url.pathname.slice('/status/'.length));
      res.end(id);
    } else {
      res.end(id);
    }
  });
  await new Promise<void>((resolve) => up.server.listen(0, '127.0.0.1', () => resolve()));
  up.port = (up.server.address() as { port: number }).port;
  up.url = `http://127.0.0.1:${up.port}`;
  up.kill = () =>
    new Promise<void>((resolve) => {
      up.server.close(() => resolve());
      up.server.closeAllConnections();
    });
  return up;
}

async function readAll(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

/** A port that was free a moment ago, for listeners that must keep their address across a restart (below the kernel's ephemeral range; see the harness). */
export { freePort } from '../platform/test-ports.ts';

export interface LoadOutcome {
  ok: number;
  failed: number;
  /** Response bodies counted by text (the upstream ids). */
  bodies: Record<string, number>;
  failures: string[];
}

/** Sends GET requests with `concurrency` workers until `total` are done or `untilMs` passes; `headers` (a Host, say) go with each. */
export async function runLoad(o: { url: string; concurrency: number; total?: number; untilMs?: number; headers?: Record<string, string> }): Promise<LoadOutcome> {
  const agent = new Agent({ connections: o.concurrency, keepAliveTimeout: 10_000 });
  const out: LoadOutcome = { ok: 0, failed: 0, bodies: {}, failures: [] };
  const stopAt = o.untilMs === undefined ? Infinity : Date.now() + o.untilMs;
  let started = 0;
  const worker = async (): Promise<void> => {
    while ((o.total === undefined || started < o.total) && Date.now() < stopAt) {
      started++;
      try {
        const res = await request(o.url, { dispatcher: agent, ...(o.headers ? { headers: o.headers } : {}) });
        const text = await res.body.text();
        if (res.statusCode === 200) {
          out.ok++;
          out.bodies[text] = (out.bodies[text] ?? 0) + 1;
        } else {
          out.failed++;
          if (out.failures.length < 5) out.failures.push(`${res.statusCode} ${text}`);
        }
      } catch (e) {
        out.failed++;
        if (out.failures.length < 5) out.failures.push(String(e));
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  await agent.close();
  return out;
}
