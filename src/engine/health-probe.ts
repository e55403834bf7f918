// HTTP health probes. A probe only ever reaches the instance's own loopback port:
// the URL is built here from the port and a path, never taken whole from config.
// Only the instance fleet's instances on this machine are probed (starting, and
// while they serve: instance-lifecycle.ts, health-monitor.ts), so it lives beside
// that fleet, which already picks their ports and routes to 127.0.0.1 itself.

import { request } from 'node:http';

export interface ProbeResult {
  ok: boolean;
  status?: number;
  error?: string;
  latencyMs: number;
}

export function probeHealth(opts: { port: number; path: string; timeoutMs: number; host?: string }): Promise<ProbeResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: Omit<ProbeResult, 'latencyMs'>) => {
      if (settled) return;
      settled = true;
      resolve({ ...r, latencyMs: performance.now() - started });
    };
    const req = request(
      { host: opts.host ?? '127.0.0.1', port: opts.port, path: opts.path, method: 'GET', agent: false, timeout: opts.timeoutMs, headers: { 'user-agent': 'slipway-health' } },
      (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        res.on('end', () => done(status >= 200 && status < 300 ? { ok: true, status } : { ok: false, status, error: `${opts.path} answered ${status}` }));
        res.on('error', (e) => done({ ok: false, status, error: e.message }));
      },
    );
    req.on('timeout', () => {
      req.destroy();
      done({ ok: false, error: `${opts.path} did not answer within ${opts.timeoutMs}ms` });
    });
    req.on('error', (e: NodeJS.ErrnoException) => done({ ok: false, error: e.code === 'ECONNREFUSED' ? `nothing listens on port ${opts.port}` : e.message }));
    req.end();
  });
}
