// What a client sees of one HTTP exchange, and a bounded burst of GETs, for the
// real-apps bench: the same calls go through slipway's router and straight to the
// instance, so every difference between the two is the router's.

import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Pool, request } from 'undici';
import { percentile } from '../../src/cli/traffic.ts';

export interface Exchange {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer | Readable;
  timeoutMs?: number;
}

/** One request on its own connection; the body is read whole (these answers are small). */
export async function send(url: string, o: SendOptions = {}): Promise<Exchange> {
  const r = await request(url, {
    method: (o.method ?? 'GET') as 'GET',
    headers: o.headers,
    body: o.body,
    headersTimeout: o.timeoutMs ?? 30_000,
    bodyTimeout: o.timeoutMs ?? 30_000,
  });
  const body = Buffer.from(await r.body.arrayBuffer());
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
  return { status: r.statusCode, headers, body };
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The figures of one row of the bench's table. */
export interface Figures {
  requests: number;
  errors: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  bytes: number;
  seconds: number;
}

export interface BurstOptions {
  count: number;
  concurrency: number;
  /** A status other than this, or a connection error, counts as an error. */
  expectStatus?: number;
}

/** What one burst measured; several bursts of one target add up to one row. */
export interface Burst {
  latenciesMs: number[];
  errors: number;
  bytes: number;
  seconds: number;
}

/**
 * `count` GETs of one URL from `concurrency` keep-alive connections, each worker
 * sending its next request when its last answer is read. Bounded by count, and by
 * a 10 s timeout per request.
 */
export async function burstOfGets(url: string, o: BurstOptions): Promise<Burst> {
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections: o.concurrency, pipelining: 1 });
  const path = target.pathname + target.search;
  const latenciesMs: number[] = [];
  let started = 0;
  let errors = 0;
  let bytes = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (started < o.count) {
      started++;
      const s = performance.now();
      try {
        const r = await pool.request({ method: 'GET', path, headersTimeout: 10_000, bodyTimeout: 10_000 });
        const body = Buffer.from(await r.body.arrayBuffer());
        bytes += body.length;
        if (r.statusCode !== (o.expectStatus ?? 200)) errors++;
      } catch {
        errors++;
      }
      latenciesMs.push(performance.now() - s);
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  await pool.close();
  return { latenciesMs, errors, bytes, seconds };
}

/** One row from the bursts of one target: rates over their summed time, percentiles over all their requests. */
export function figuresOf(bursts: Burst[]): Figures {
  const latencies = bursts.flatMap((b) => b.latenciesMs);
  const seconds = bursts.reduce((s, b) => s + b.seconds, 0);
  return {
    requests: latencies.length,
    errors: bursts.reduce((s, b) => s + b.errors, 0),
    rps: latencies.length / seconds,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    bytes: bursts.reduce((s, b) => s + b.bytes, 0),
    seconds,
  };
}
