// A rollout under fire: the server is killed with SIGKILL at step boundaries (and
// mid-step) while a client sends traffic; each time a new server takes over.
// Used by test/chaos-*.test.ts (one file per strategy) and bench/chaos-bench.ts (many kills).

import { join } from 'node:path';
import { startTraffic, type TrafficStats } from '../../src/cli/traffic.ts';
import type { EnvironmentStatus } from '../../src/engine/status-view.ts';
import { freePort, getJson, isPidAlive, liveInstanceRows, processesInReleases, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type ServerProcess } from './harness.ts';

export const CHAOS_STRATEGIES: Record<string, string> = {
  rolling: 'type: rolling\nbatch: 1',
  canary: 'type: canary\nsteps:\n  - weight: 25\n  - pause: 1s\n  - weight: 50\n  - pause: 1s',
  'blue-green': 'type: blue-green\nauto_promote: true\nscale_down_delay: 3s',
};

export interface ChaosResult {
  strategy: string;
  kills: number;
  midStepKills: number;
  phase: string;
  /** The rollout's events, for a failure's story. */
  events: string[];
  traffic: TrafficStats;
  /** Instance rows that are live in the store but whose process is gone, or processes of stopped rows. */
  orphans: number;
  duplicates: number;
  instances: number;
  servedVersions: string[];
}

async function status(server: ServerProcess, env: string): Promise<EnvironmentStatus | null> {
  try {
    return await getJson<EnvironmentStatus>(`${server.url}/api/environments/${env}`);
  } catch {
    return null;
  }
}

export async function runChaos(opts: { strategy: string; maxKills: number; log?: (s: string) => void }): Promise<ChaosResult> {
  const work = scratchDir('slipway-chaos-');
  const app = join(work, 'hello');
  const dataDir = join(work, '.slipway');
  const port = await freePort();
  const env = { instances: 3, port, strategyYaml: CHAOS_STRATEGIES[opts.strategy]!, config: { START_DELAY_MS: '300' } };
  writeService(app, { version: '1.0.0', envs: { production: env } });
  let server = await startServerProcess(dataDir);
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir, timeoutMs: 120_000 });
  let kills = 0;
  let midStepKills = 0;
  try {
    const first = await cli('deploy', 'production');
    if (first.code !== 0) throw new Error(`first deploy failed: ${first.stdout}${first.stderr}`);
    writeService(app, { version: '2.0.0', envs: { production: env } });
    const traffic = startTraffic({ url: `http://127.0.0.1:${port}/`, concurrency: 4, maxDurationMs: 300_000, pauseMs: 1 });
    const started = await cli('deploy', 'production', '--detach');
    if (started.code !== 0) throw new Error(`deploy failed: ${started.stderr}`);
    let lastStep = -1;
    const killedMidStep = new Set<number>();
    const deadline = Date.now() + 240_000;
    let phase = 'progressing';
    let rolloutId = 0;
    while (Date.now() < deadline) {
      const s = await status(server, 'production');
      if (s && s.rollout === null) {
        phase = s.lastRollout?.phase ?? 'unknown';
        break;
      }
      if (s?.rollout) rolloutId = s.rollout.id;
      const step = s?.rollout?.step ?? lastStep;
      const starting = s?.instances.some((i) => i.state === 'starting') ?? false;
      const atBoundary = step !== lastStep && lastStep !== -1;
      // At most one kill in the middle of each step, while one of its instances starts.
      const midStep = starting && midStepKills < Math.ceil(opts.maxKills / 4) && !killedMidStep.has(step);
      if (kills < opts.maxKills && (atBoundary || midStep)) {
        await server.kill9();
        kills++;
        if (!atBoundary) {
          midStepKills++;
          killedMidStep.add(step);
        }
        opts.log?.(`kill #${kills} ${atBoundary ? `at the boundary into step ${step + 1}` : `mid-step ${step + 1} (an instance starting)`}`);
        server = await startServerProcess(dataDir, `server-${kills}.log`);
      }
      lastStep = step;
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 300));
    const stats = await traffic.stop();
    const rows = liveInstanceRows(dataDir);
    const pids = rows.map((r) => r.pid);
    const strays = processesInReleases(dataDir).filter((p) => !pids.includes(p));
    const dead = rows.filter((r) => r.pid === null || !isPidAlive(r.pid)).length + strays.length;
    const after = await getJson<{ version: string }>(`http://127.0.0.1:${port}/`);
    const { events } = await getJson<{ events: { message: string }[] }>(`${server.url}/api/rollouts/${rolloutId}/events`);
    return {
      strategy: opts.strategy, kills, midStepKills, phase, events: events.map((e) => e.message), traffic: stats, orphans: dead, duplicates: pids.length - new Set(pids).size,
      instances: rows.length, servedVersions: [after.version],
    };
  } finally {
    await shutdownEverything(server.url, dataDir);
  }
}
