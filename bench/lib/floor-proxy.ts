// The least a proxy built like the router does per request, for the router bench's
// "floor" target: node:http's server in front, one undici Pool per backend (two
// releases over the same upstreams, as the bench's table), the same raw dispatch
// handler and timeouts as src/router/proxy.ts, and nothing else: no routing table,
// counters, passive health, forwarded-header rules or cluster. The router's CPU per
// request over this one's is what slipway's own code costs; this one's over nginx's
// is what node:http and undici cost. Run as its own process; prints its port.
//
//   node --import tsx bench/lib/floor-proxy.ts UPSTREAM_PORT...

import { createServer, type ServerResponse } from 'node:http';
import { Pool, type Dispatcher } from 'undici';

const ports = process.argv.slice(2).map(Number);
const pools = ['r1', 'r2'].flatMap(() => ports.map((p) => new Pool(`http://127.0.0.1:${p}`, { pipelining: 1, keepAliveTimeout: 4_000 })));
let next = 0;

class Exchange implements Dispatcher.DispatchHandler {
  constructor(private readonly res: ServerResponse) {}

  onConnect(): void {}

  onHeaders(statusCode: number, raw: Buffer[]): boolean {
    const headers: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toString('latin1');
      const lower = name.toLowerCase();
      if (lower === 'connection' || lower === 'keep-alive' || lower === 'transfer-encoding') continue;
      headers.push(name, raw[i + 1]!.toString('latin1'));
    }
    this.res.writeHead(statusCode, headers);
    return true;
  }

  onData(chunk: Buffer): boolean {
    return this.res.write(chunk);
  }

  onComplete(): void {
    this.res.end();
  }

  onError(): void {
    this.res.destroy();
  }
}

const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 60_000 }, (req, res) => {
  const pool = pools[next++ % pools.length]!;
  const headers: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() !== 'connection') headers.push(raw[i]!, raw[i + 1]!);
  headers.push('x-forwarded-for', req.socket.remoteAddress ?? '', 'x-forwarded-proto', 'http');
  pool.dispatch({ path: req.url!, method: req.method as Dispatcher.HttpMethod, headers, body: null, headersTimeout: 60_000, bodyTimeout: 300_000 }, new Exchange(res));
});
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`${typeof a === 'object' && a !== null ? a.port : 0}\n`);
});
process.on('SIGTERM', () => process.exit(0));
