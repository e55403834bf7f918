// Shadow traffic during a canary, as a team adopting it for a JSON items API would:
// users send a bearer token and a `?token=` query value; the new release's copies
// hang (a broken release). What users get must not change: the same status,
// headers and body as the stable release gives, no failed request, and latency
// within reason of the same load without a shadow step (a bounded client measures
// p99 both ways). The step's result shows in the status the docs name, with no
// credential in it.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import { freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess, type ServiceOptions } from './support/harness.ts';
import { SERVICE } from './support/items-api.ts';

const API_TOKEN = 'tok-1b2c3d4e5f60718293';
const QUERY_TOKEN = 'qv-a1b2c3d4e5f6';

interface Load {
  latenciesMs: number[];
  failed: number;
  errors: string[];
  releases: Set<string>;
  answers: Map<string, string>;
}

/** A bounded client: 4 workers sending GETs of items for `ms`, each answer's time, release and body (noise taken out) kept. */
async function measure(base: string, ms: number): Promise<Load> {
  const { Agent, request } = await import('undici');
  const agent = new Agent({ connections: 4 });
  const out: Load = { latenciesMs: [], failed: 0, errors: [], releases: new Set(), answers: new Map() };
  const end = Date.now() + ms;
  const worker = async (w: number) => {
    for (let i = 0; Date.now() < end; i++) {
      const path = `/api/items/${1 + ((i + w) % 5)}?token=${QUERY_TOKEN}`;
      const t0 = performance.now();
      try {
        const res = await request(`${base}${path}`, { dispatcher: agent, headers: { authorization: `Bearer ${API_TOKEN}`, accept: 'application/json' }, headersTimeout: 10_000, bodyTimeout: 10_000 });
        const text = await res.body.text();
        out.latenciesMs.push(performance.now() - t0);
        out.releases.add(String(res.headers['x-release']));
        const { updatedAt: _u, requestId: _r, ...rest } = JSON.parse(text) as Record<string, unknown>;
        out.answers.set(path, `${res.statusCode} ${String(res.headers['content-type'])} ${JSON.stringify(rest)}`);
        if (res.statusCode !== 200) {
          out.failed++;
          out.errors.push(`${path}: ${res.statusCode}`);
        }
      } catch (e) {
        out.failed++;
        out.errors.push(`${path}: ${(e as Error).message}`);
      }
    }
  };
  await Promise.all([0, 1, 2, 3].map(worker));
  await agent.close();
  return out;
}

const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))]!;

describe('shadow traffic to a new release whose copies hang', { timeout: 180_000 }, () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let port: number;
  let service: ServiceOptions;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir });
  const status = () => getJson<EnvironmentStatus>(`${server.url}/api/environments/shop`);
  const calls = () => {
    const f = join(dataDir, 'app-data', 'hello', 'shop', 'calls.log');
    return existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean) : [];
  };
  const withMode = (mode: string): ServiceOptions => ({ ...service, envs: { shop: { ...service.envs.shop!, config: { API_TOKEN, QUERY_TOKEN, MODE: mode } } } });

  beforeAll(async () => {
    work = scratchDir('slipway-shadow-hang-');
    app = join(work, 'shop');
    dataDir = join(work, '.slipway');
    port = await freePort();
    service = {
      service: 'hello',
      envs: {
        shop: {
          instances: 2, port,
          strategyYaml: 'type: canary\nsteps:\n  - shadow: { duration: 8s, percent: 100, paths: [/api/*], min_requests: 20, inconclusive: fail }\n  - weight: 50',
          config: { API_TOKEN, QUERY_TOKEN, MODE: 'stable' },
        },
      },
    };
    writeService(app, service);
    writeFileSync(join(app, 'server.js'), SERVICE);
    server = await startServerProcess(dataDir, 'server.log', process.env, `127.0.0.1:${await freePort()}`);
    const r = await cli('deploy', 'shop');
    expect(r.code, r.stdout + r.stderr).toBe(0);
  }, 90_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('users get the stable answers with no failure and p99 within reason of no shadow, while every copy to the new release hangs', async () => {
    const base = `http://127.0.0.1:${port}`;
    await measure(base, 1_000); // warm up
    const without = await measure(base, 4_000);
    writeService(app, withMode('slow'));
    const last = (await status()).lastRollout?.id ?? 0;
    const r = await cli('deploy', 'shop', '--detach');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await waitFor('the shadow step to start', async () => /shadow/i.test((await status()).rollout?.current ?? ''), 30_000);
    const withShadow = await measure(base, 4_000);
    // Every copy went to the new release, which never answered one.
    expect(calls().filter((c) => /^2 GET .* copy /.test(c)).length).toBeGreaterThan(20);
    let s: EnvironmentStatus | null = null;
    await waitFor('the rollout to end', async () => {
      s = await status();
      return s.rollout === null && s.lastRollout !== null && s.lastRollout.id > last;
    }, 60_000);
    console.log(JSON.stringify({ without: { n: without.latenciesMs.length, p99: p99(without.latenciesMs) }, withShadow: { n: withShadow.latenciesMs.length, p99: p99(withShadow.latenciesMs) } }));
    expect(withShadow.failed, withShadow.errors.slice(0, 5).join('\n')).toBe(0);
    expect(without.failed).toBe(0);
    expect([...withShadow.releases]).toEqual(['1']);
    expect(withShadow.answers).toEqual(without.answers);
    expect(p99(withShadow.latenciesMs)).toBeLessThan(Math.max(3 * p99(without.latenciesMs), p99(without.latenciesMs) + 50));
    const text = await cli('status', 'shop');
    expect(text.stdout).toMatch(/shadow: +inconclusive/);
    expect(text.stdout + JSON.stringify(s)).not.toContain(API_TOKEN);
    expect(text.stdout + JSON.stringify(s)).not.toContain(QUERY_TOKEN);
  });

  it('fails the rollout at the shadow step when the new release cuts every copy\'s connection, naming /status, before any user reaches it', async () => {
    const base = `http://127.0.0.1:${port}`;
    writeService(app, { ...withMode('reset'), envs: { shop: { ...withMode('reset').envs.shop!, strategyYaml: 'type: canary\nsteps:\n  - shadow: { duration: 5s, percent: 50, paths: [/api/*], min_requests: 20 }\n  - weight: 50\n  - pause: 3s' } } });
    const last = (await status()).lastRollout?.id ?? 0;
    const r = await cli('deploy', 'shop', '--detach');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // Users throughout the shadow step and what would follow it (weight 50, a pause).
    const users = measure(base, 14_000);
    let s: EnvironmentStatus | null = null;
    await waitFor('the rollout to end', async () => {
      s = await status();
      return s.rollout === null && s.lastRollout !== null && s.lastRollout.id > last;
    }, 60_000);
    const load = await users;
    expect(s!.lastRollout?.phase).toBe('failed');
    expect(s!.lastRollout?.reason).toContain('shadow traffic');
    expect(s!.lastRollout?.reason).toContain('GET /api/items/:id /status');
    expect(s!.shadow?.examples[0]).toMatchObject({ field: '/status', stable: '200', candidate: 'no answer: connection closed before an answer' });
    expect(JSON.stringify(s)).not.toContain(QUERY_TOKEN);
    expect(load.failed, load.errors.slice(0, 5).join('\n')).toBe(0);
    expect([...load.releases]).toEqual(['1']);
  });
});
