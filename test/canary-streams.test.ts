// Issue 17: long-lived event streams must not fail a healthy canary's analysis.
// A real canary of the example service with a latency limit (p99 under 1 s),
// while 20 event streams of 3 s each are kept open through the router the whole
// time (some of them on the canary). Streams are counted on their own in the
// router's stats, so the canary's p99 is that of its ordinary requests: its
// analysis step passes and the watch window after it keeps the release. (Counted
// as requests, they made the watch window roll the release back: tried.)

import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTraffic } from '../src/cli/traffic.ts';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import { freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type EnvOptions, type ServerProcess } from './support/harness.ts';

describe('event streams during a canary', () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  const agent = new Agent({ connections: null });
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir, timeoutMs: 150_000 });

  beforeAll(async () => {
    work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    server = await startServerProcess(dataDir);
  });

  afterAll(async () => {
    await agent.close();
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('20 open event streams do not fail the latency analysis of a healthy canary', async () => {
    const port = await freePort();
    const env: EnvOptions = {
      instances: 2,
      port,
      strategyYaml: 'type: canary\nsteps:\n  - weight: 50\n  - analysis: { deadline: 90s, inconclusive: fail }\n  - weight: 100',
      extraYaml: 'analysis:\n  latency: { p99: { max: 1s } }',
    };
    writeService(app, { version: '1.0.0', envs: { production: env } });
    const first = await cli('deploy', 'production');
    expect(first.code, first.stdout + first.stderr).toBe(0);
    writeService(app, { version: '2.0.0', envs: { production: env } });

    // 20 streams open at all times: each 3 s long (6 events 500 ms apart), then opened again.
    let stopping = false;
    const streamVersions: Record<string, number> = {};
    let streamFailures = 0;
    const streamer = async (): Promise<void> => {
      while (!stopping) {
        try {
          const res = await request(`http://127.0.0.1:${port}/events?n=6&ms=500`, { dispatcher: agent });
          const text = await res.body.text();
          const version = /"version":"([^"]+)"/.exec(text)?.[1] ?? `status ${res.statusCode}`;
          streamVersions[version] = (streamVersions[version] ?? 0) + 1;
        } catch {
          // A stream cut when its instance drained at the end of the rollout.
          streamFailures++;
        }
      }
    };
    const streamers = Array.from({ length: 20 }, streamer);
    const traffic = startTraffic({ url: `http://127.0.0.1:${port}/`, concurrency: 6, pauseMs: 2, maxDurationMs: 150_000 });

    const r = await cli('deploy', 'production');
    // And into the watch window that follows, which judges the new release the same way.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    const load = await traffic.stop();
    stopping = true;
    await Promise.all(streamers);

    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/analysis \(step 3\): pass/);
    expect(load.failed, JSON.stringify(load.errors)).toBe(0);
    // The canary did carry streams while it was judged.
    expect(streamVersions['2.0.0'] ?? 0).toBeGreaterThan(0);
    expect(Object.keys(streamVersions).filter((v) => v.startsWith('status'))).toEqual([]);
    console.log(`event streams served: ${JSON.stringify(streamVersions)}, cut at a drain: ${streamFailures}; ordinary requests ${load.sent}, failed ${load.failed}`);
    const s = await getJson<EnvironmentStatus>(`${server.url}/api/environments/${encodeURIComponent('hello/production')}`);
    expect(s.stable?.number).toBe(2);
    expect(s.lastRollout?.phase).toBe('succeeded');
  }, 240_000);
});
