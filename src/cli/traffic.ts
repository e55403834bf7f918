// A bounded, concurrent HTTP client used by the demo, the tests and the benchmarks
// to prove that deploys drop nothing. Loopback only; stops by itself at its limits.

import { Agent, request } from 'undici';

export interface TrafficStats {
  sent: number;
  ok: number;
  failed: number;
  byStatus: Record<string, number>;
  errors: Record<string, number>;
  /** `version` field of JSON answers → count (the example service reports its version). */
  versions: Record<string, number>;
  latenciesMs: number[];
  durationMs: number;
  /** Wall-clock time (ms since the epoch) of the first and the last failed request; null if none failed. */
  firstFailureAt: number | null;
  lastFailureAt: number | null;
}

export interface TrafficOptions {
  url: string;
  concurrency?: number;
  maxRequests?: number;
  maxDurationMs?: number;
  /** Pause between two requests of one worker, to offer a steady rate rather than a flood. */
  pauseMs?: number;
  headers?: Record<string, string>;
}

export interface Traffic {
  stats(): TrafficStats;
  stop(): Promise<TrafficStats>;
  done: Promise<TrafficStats>;
}

function assertLoopback(url: URL): void {
  const h = url.hostname.replace(/^\[|\]$/g, '');
  if (!(h === 'localhost' || h === '::1' || /^127\./.test(h))) throw new Error(`traffic goes only to loopback addresses, not ${url.hostname}`);
}

export function startTraffic(o: TrafficOptions): Traffic {
  const url = new URL(o.url);
  assertLoopback(url);
  const concurrency = o.concurrency ?? 8;
  const maxRequests = o.maxRequests ?? 200_000;
  const deadline = Date.now() + (o.maxDurationMs ?? 600_000);
  const agent = new Agent({ connections: concurrency, keepAliveTimeout: 30_000 });
  const s: TrafficStats = { sent: 0, ok: 0, failed: 0, byStatus: {}, errors: {}, versions: {}, latenciesMs: [], durationMs: 0, firstFailureAt: null, lastFailureAt: null };
  const started = performance.now();
  let stopping = false;

  function failed(): void {
    s.failed++;
    s.lastFailureAt = Date.now();
    s.firstFailureAt ??= s.lastFailureAt;
  }

  async function worker(): Promise<void> {
    while (!stopping && s.sent < maxRequests && Date.now() < deadline) {
      s.sent++;
      const t0 = performance.now();
      try {
        const res = await request(url, { dispatcher: agent, method: 'GET', ...(o.headers ? { headers: o.headers } : {}) });
        const text = await res.body.text();
        s.latenciesMs.push(performance.now() - t0);
        s.byStatus[res.statusCode] = (s.byStatus[res.statusCode] ?? 0) + 1;
        if (res.statusCode >= 200 && res.statusCode < 300) s.ok++;
        else failed();
        const version = /"version":"([^"]+)"/.exec(text)?.[1];
        if (version) s.versions[version] = (s.versions[version] ?? 0) + 1;
      } catch (e) {
        failed();
        const code = (e as NodeJS.ErrnoException).code ?? (e as Error).name;
        s.errors[code] = (s.errors[code] ?? 0) + 1;
      }
      if (o.pauseMs) await new Promise((r) => setTimeout(r, o.pauseMs));
    }
  }

  const done = Promise.all(Array.from({ length: concurrency }, worker)).then(async () => {
    s.durationMs = performance.now() - started;
    await agent.close();
    return s;
  });
  return {
    stats: () => ({ ...s, durationMs: performance.now() - started }),
    stop: () => {
      stopping = true;
      return done;
    },
    done,
  };
}

export function percentile(values: number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
