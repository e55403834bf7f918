// Issue 17: a long poll answered after the environment's proxy.long_request is not
// an ordinary request, and must not fail a healthy canary's latency check. A real
// server, router and canary of a small app whose /poll answers after 1.5 s (a long
// poll, cut short for the test), with proxy.long_request: 1s and a p99 limit of
// 500 ms, while 20 clients poll it and others send ordinary requests: about one
// request in twenty is a long poll, which would make p99 1.5 s. The canary's analysis
// passes, and says how many long requests it left out of latency.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTraffic } from '../src/cli/traffic.ts';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import { apiFetch, freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type EnvOptions, type ServerProcess } from './support/harness.ts';

/** The app: `/` at once, `/poll?ms=N` after N ms, `/healthz`; its version from package.json; drains on SIGTERM. */
const APP = `import http from 'node:http';
import { readFileSync } from 'node:fs';
const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
const send = (res, status, body) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/poll') setTimeout(() => send(res, 200, { version, polled: true }), Number(url.searchParams.get('ms') ?? 1500));
  else if (url.pathname === '/healthz') send(res, 200, { ok: true });
  else send(res, 200, { version });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => { server.close(() => process.exit(0)); server.closeIdleConnections(); setTimeout(() => process.exit(0), 3000).unref(); });
`;

describe('long polls during a canary', () => {
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  const agent = new Agent({ connections: null });
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir, timeoutMs: 150_000 });

  beforeAll(async () => {
    const work = scratchDir();
    app = join(work, 'poller');
    dataDir = join(work, '.slipway');
    mkdirSync(app, { recursive: true });
    writeFileSync(join(app, 'server.js'), APP);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'poller', version: '1.0.0', type: 'module' }));
    server = await startServerProcess(dataDir);
  });

  afterAll(async () => {
    await agent.close();
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('long polls past proxy.long_request do not fail the p99 check of a healthy canary, and are counted', async () => {
    const port = await freePort();
    const env: EnvOptions = {
      instances: 2,
      port,
      strategyYaml: 'type: canary\nsteps:\n  - weight: 50\n  - analysis: { deadline: 90s, inconclusive: fail }\n  - weight: 100',
      extraYaml: 'proxy:\n  long_request: 1s\nanalysis:\n  latency: { p99: { max: 500ms } }',
    };
    writeService(app, { service: 'poller', version: '1.0.0', envs: { production: env } });
    const first = await cli('deploy', 'production');
    expect(first.code, first.stdout + first.stderr).toBe(0);
    writeService(app, { service: 'poller', version: '2.0.0', envs: { production: env } });

    let stopping = false;
    const polled: Record<string, number> = {};
    let pollFailures = 0;
    const poller = async (): Promise<void> => {
      while (!stopping) {
        try {
          const res = await request(`http://127.0.0.1:${port}/poll?ms=1500`, { dispatcher: agent });
          const version = ((await res.body.json()) as { version?: string }).version ?? `status ${res.statusCode}`;
          polled[version] = (polled[version] ?? 0) + 1;
        } catch {
          // A poll cut when its instance drained at the end of the rollout.
          pollFailures++;
        }
      }
    };
    const pollers = Array.from({ length: 20 }, poller);
    // The p99 check is judged once the canary has 1000 requests: 2 clients (~40 a second to
    // the canary) made the analysis take ~25 s; 6 get there in ~9 s, still a light load.
    const traffic = startTraffic({ url: `http://127.0.0.1:${port}/`, concurrency: 6, pauseMs: 20, maxDurationMs: 150_000 });

    const r = await cli('deploy', 'production');
    const load = await traffic.stop();
    stopping = true;
    await Promise.all(pollers);

    console.log(`long polls answered: ${JSON.stringify(polled)}, cut at a drain: ${pollFailures}; ordinary requests ${load.sent}, failed ${load.failed}`);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const verdict = /analysis \(step \d+\): pass: .*/.exec(r.stdout)?.[0] ?? '';
    expect(verdict, r.stdout).not.toBe('');
    // The canary carried long polls while it was judged: the analysis says how many it left out.
    const leftOut = /long requests left out of latency: new (\d+)(?:, \d+ failed)?, stable (\d+)/.exec(verdict);
    expect(leftOut, verdict).not.toBeNull();
    expect(Number(leftOut![1])).toBeGreaterThan(0);
    expect(Number(leftOut![2])).toBeGreaterThan(0);
    // Long polls were a real share of the traffic: counted as requests, they were a p99 of 1.5 s.
    const polls = Object.values(polled).reduce((a, b) => a + b, 0);
    expect(polls / (polls + load.sent)).toBeGreaterThan(0.02);
    expect(polled['2.0.0'] ?? 0).toBeGreaterThan(0);
    expect(load.failed, JSON.stringify(load.errors)).toBe(0);
    const s = await getJson<EnvironmentStatus>(`${server.url}/api/environments/${encodeURIComponent('poller/production')}`);
    expect(s.stable?.number).toBe(2);
    expect(s.lastRollout?.phase).toBe('succeeded');
    // Prometheus sees them too, per release, as the analysis did.
    const metrics = await (await apiFetch(`${server.url}/metrics`)).text();
    const longOf = (release: number) => Number(new RegExp(`^slipway_router_long_requests_total\\{env="poller/production",release="${release}"\\} (\\d+)`, 'm').exec(metrics)?.[1] ?? 0);
    expect(longOf(2), metrics.split('\n').filter((l) => l.includes('long_request')).join('\n')).toBeGreaterThan(0);
    expect(longOf(1) + longOf(2)).toBeLessThanOrEqual(polls);
  }, 240_000);
});
