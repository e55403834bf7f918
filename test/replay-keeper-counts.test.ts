// The counts of requests picked for replay's sample are true with the real router:
// more than `sample` recorded requests at once, a router worker killed with kill -9,
// then recording stopped (a release without record:) while requests still flow.
// Every picked request is counted once, by what became of it, and `kept` is what the
// sample files hold after rotating (before, a worker counted a line kept as it handed
// it to the keeper, which could still drop it).

import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiFetch, freePort, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';
import { samples } from './support/prom-text.ts';

const SAMPLE = 20;
const BURST = 150;
const RECORD = `record: { percent: 100, paths: [/api/*], headers: [accept], sample: ${SAMPLE}, max_bytes: 1mb }`;

describe("the replay keeper's counts", { timeout: 180_000 }, () => {
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let port: number;
  let stagingPort: number;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir, timeoutMs: 120_000 });
  const files = () => ['hello%2Fproduction.1.jsonl', 'hello%2Fproduction.jsonl'].map((f) => join(dataDir, 'router', 'replay', f));
  const linesOnDisk = () => files().flatMap((f) => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean) : []));
  const outcomes = async (): Promise<Record<string, number>> => {
    const text = await (await apiFetch(`${server.url}/metrics`)).text();
    return Object.fromEntries(samples(text).filter((s) => s.name === 'slipway_router_recorded_requests_total' && s.labels['env'] === 'hello/production').map((s) => [s.labels['outcome']!, s.value]));
  };
  const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
  /** Environments with recorded counts in /metrics: only the one that records. */
  const recordingEnvs = async () => {
    const text = await (await apiFetch(`${server.url}/metrics`)).text();
    return [...new Set(samples(text).filter((s) => s.name === 'slipway_router_recorded_requests_total').map((s) => s.labels['env']))];
  };
  /** What the two sample files hold is what `kept` leaves after rotating: a full previous file (half the sample) and the rest. */
  const linesKept = (kept: number) => SAMPLE / 2 + (((kept - 1) % (SAMPLE / 2)) + 1);
  /** The router's worker processes: the keeper's children that run the router. */
  const routerWorkers = (): number[] => {
    const keeper = (JSON.parse(readFileSync(join(dataDir, 'router', 'router.json'), 'utf8')) as { pid: number }).pid;
    return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).flatMap((d) => {
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        return parent === keeper && readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('router-main') ? [Number(d)] : [];
      } catch {
        return [];
      }
    });
  };

  function writeYaml(record: boolean, version: string): void {
    writeService(app, { version, envs: { staging: { instances: 1, port: stagingPort }, production: { instances: 1, port, ...(record ? { extraYaml: RECORD } : {}) } } });
    writeFileSync(join(app, 'slipway.yaml'), `${readFileSync(join(app, 'slipway.yaml'), 'utf8')}pipeline:\n  ${record ? 'replay: { min_requests: 1 }' : 'rollback_drill: false'}\n`);
  }

  // Connections of this test's own: after a worker is killed, its kept-alive ones are
  // closed, and one reused in the same instant fails ("other side closed"). That loss
  // is router-kill.test.ts's subject; here a fresh pool follows the kill.
  let pool = new Agent();
  const get = async (i: number) => {
    const res = await request(`http://127.0.0.1:${port}/api/item?i=${i}`, { dispatcher: pool });
    await res.body.text();
    // The example service has no /api/item (404): what counts is that the router got it there.
    expect(res.statusCode).toBe(404);
  };

  beforeAll(async () => {
    const work = scratchDir();
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    port = await freePort();
    stagingPort = await freePort();
    writeYaml(true, '1.0.0');
    server = await startServerProcess(dataDir);
    const s = await cli('deploy', 'staging');
    expect(s.code, s.stdout + s.stderr).toBe(0);
    const d = await cli('deploy', 'production');
    expect(d.code, d.stdout + d.stderr).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await pool.destroy();
    await shutdownEverything(server?.url ?? null, dataDir);
  }, 120_000);

  it('counts a burst of more than `sample` requests once each, kept only as written', async () => {
    let sent = 0;
    for (let round = 0; round < 3; round++) {
      await Promise.all(Array.from({ length: BURST }, () => get(sent++)));
    }
    await waitFor('every picked request counted', async () => sum(await outcomes()) === sent, 20_000);
    const o = await outcomes();
    expect(o['dropped_overflow'], JSON.stringify(o)).toBeGreaterThan(0);
    expect(o['kept']! + o['dropped_overflow']!).toBe(sent);
    expect(linesOnDisk()).toHaveLength(linesKept(o['kept']!));
    expect(await recordingEnvs()).toEqual(['hello/production']);
    // `slipway status` says so, and --json has every count.
    const status = await cli('status', 'production');
    expect(status.stdout).toContain(`recorded: ${o['kept']} request(s) kept for replay, ${o['dropped_overflow']} dropped since the router started: ${o['dropped_overflow']} for newer ones`);
    const json = await cli('--json', 'status', 'production');
    expect((JSON.parse(json.stdout) as { recorded: Record<string, number> }).recorded).toEqual(o);
  });

  it('neither loses nor counts twice what a worker killed with kill -9 had counted', async () => {
    const before = await outcomes();
    const [victim, ...others] = routerWorkers();
    expect(others.length, 'two router workers').toBeGreaterThan(0);
    process.kill(victim!, 'SIGKILL');
    await waitFor('a replacement worker', () => !routerWorkers().includes(victim!) && routerWorkers().length === others.length + 1, 30_000);
    await pool.destroy();
    pool = new Agent();
    let sent = 0;
    await Promise.all(Array.from({ length: BURST }, () => get(sent++)));
    await waitFor('the new burst counted', async () => sum(await outcomes()) === sum(before) + sent, 20_000);
    const after = await outcomes();
    for (const [outcome, n] of Object.entries(before)) expect(after[outcome], outcome).toBeGreaterThanOrEqual(n);
    expect(linesOnDisk()).toHaveLength(linesKept(after['kept']!));
  });

  it('counts lines on their way when recording stops dropped_stopped, and writes none of them', async () => {
    const before = await outcomes();
    writeYaml(false, '1.0.1');
    const s = await cli('deploy', 'staging');
    expect(s.code, s.stdout + s.stderr).toBe(0);
    let sent = 0;
    let isFlowing = true;
    const flow = (async () => {
      while (isFlowing) await Promise.all(Array.from({ length: 20 }, () => get(sent++)));
    })();
    const d = await cli('deploy', 'production');
    isFlowing = false;
    await flow;
    expect(d.code, d.stdout + d.stderr).toBe(0);
    // Settled: the counts stop moving once the last lines are written or dropped. The
    // server samples the router every second: two reads further apart see two samples.
    let last = -1;
    await waitFor('the counts to settle', async () => {
      const now = sum(await outcomes());
      const isSettled = now === last;
      last = now;
      await new Promise((r) => setTimeout(r, 1_500));
      return isSettled;
    }, 30_000);
    const after = await outcomes();
    const delta = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));
    expect(delta['dropped_stopped'], JSON.stringify(delta)).toBeGreaterThan(0);
    // Each request picked before the table lost record: is counted once; none after.
    expect(sum(delta)).toBeLessThanOrEqual(sent);
    expect(linesOnDisk()).toHaveLength(linesKept(after['kept']!));
  });
});
