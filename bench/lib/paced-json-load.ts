// What the shadow and replay-recording benches share: upstream processes answering a
// small JSON document (an id, a price, a timestamp, a random id: what a diff must
// tell apart from noise), and an open-loop load at a fixed rate, timed per request
// with performance.now() so sub-millisecond differences show.

import { spawn, type ChildProcess } from 'node:child_process';
import { request, type Agent } from 'undici';

const UPSTREAM = `
const http = require('node:http');
const { randomUUID } = require('node:crypto');
const s = http.createServer((req, res) => {
  const id = Number((req.url.match(/\\d+/) || ['1'])[0]);
  const body = JSON.stringify({ id, name: 'item ' + id, price: id * 10, tags: ['a', 'b', 'c'], updatedAt: new Date().toISOString(), requestId: randomUUID() });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
s.keepAliveTimeout = 65000;
s.listen(0, '127.0.0.1', () => process.stdout.write(s.address().port + '\\n'));
process.on('SIGTERM', () => process.exit(0));
`;

/** An upstream process on 127.0.0.1 answering /api/items/<id> with JSON. */
export function startJsonUpstream(): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', UPSTREAM], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout!.once('data', (d: Buffer) => resolve({ child, port: Number(d.toString().trim()) }));
    child.on('error', reject);
  });
}

export interface PacedLoad {
  url: string;
  agent: Agent;
  concurrency: number;
  /** Requests per second over all connections; 0: as fast as they go. */
  ratePerS: number;
  durationMs: number;
  /** The path of request k. */
  path(k: number): string;
  headers?: Record<string, string>;
}

/** Sends the load; each latency counts from the request's scheduled time, so a queue shows. */
export async function pacedLoad(o: PacedLoad): Promise<{ latencies: number[]; failed: number }> {
  const latencies: number[] = [];
  let failed = 0;
  const start = performance.now();
  const until = start + o.durationMs;
  let n = 0;
  await Promise.all(Array.from({ length: o.concurrency }, async () => {
    while (performance.now() < until) {
      const k = n++;
      if (o.ratePerS > 0) {
        const due = start + (k * 1000) / o.ratePerS;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((res) => setTimeout(res, wait));
      }
      const t0 = o.ratePerS > 0 ? Math.min(performance.now(), start + (k * 1000) / o.ratePerS) : performance.now();
      try {
        const res = await request(`${o.url}${o.path(k)}`, { dispatcher: o.agent, ...(o.headers ? { headers: o.headers } : {}) });
        await res.body.arrayBuffer();
        if (res.statusCode !== 200) failed++;
      } catch {
        failed++;
      }
      latencies.push(performance.now() - t0);
    }
  }));
  return { latencies, failed };
}

export const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
