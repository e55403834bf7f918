// Shadow traffic on real processes: a canary's shadow step copies live requests the
// stable release answered to the new release, compares the answers, and fails the
// rollout, before any user reaches the new release, when one JSON field of one
// endpoint differs; a release whose answers differ only in timestamps and random ids
// (noise, learned from two stable instances) passes. POSTs are never copied by
// default, and users see no failed request throughout.

import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import { freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess, type ServiceOptions } from './support/harness.ts';

interface UserLoad {
  stop(): Promise<{ requests: number; failed: number; errors: string[]; posts: number; byRelease: Record<string, number> }>;
}

/** Users: GETs of items and the list, and a POST every fifth request, 4 at a time. */
async function startUsers(base: string): Promise<UserLoad> {
  const { Agent, request } = await import('undici');
  const agent = new Agent({ connections: 8 });
  let isStopped = false;
  const out = { requests: 0, failed: 0, errors: [] as string[], posts: 0, byRelease: {} as Record<string, number> };
  const worker = async (w: number) => {
    for (let i = 0; !isStopped; i++) {
      const isPost = i % 5 === 4;
      const path = isPost ? '/api/orders' : i % 5 === 3 ? '/api/list' : `/api/items/${(i * 7 + w) % 20}`;
      try {
        const res = await request(`${base}${path}`, isPost
          ? { dispatcher: agent, method: 'POST', body: JSON.stringify({ w, i }), headers: { 'content-type': 'application/json' } }
          : { dispatcher: agent });
        await res.body.text();
        out.requests++;
        if (isPost) out.posts++;
        const rel = String(res.headers['x-release'] ?? 'router');
        out.byRelease[rel] = (out.byRelease[rel] ?? 0) + 1;
        if (res.statusCode >= 500) {
          out.failed++;
          out.errors.push(`${path}: ${res.statusCode}`);
        }
      } catch (e) {
        out.failed++;
        out.errors.push(`${path}: ${(e as Error).message}`);
      }
    }
  };
  const running = Promise.all([0, 1, 2, 3].map(worker));
  return {
    stop: async () => {
      isStopped = true;
      await running;
      await agent.close();
      return out;
    },
  };
}

describe('shadow traffic with response diffing', () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let callsFile: string;
  let server: ServerProcess;
  let port: number;
  let service: ServiceOptions;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir });
  const status = () => getJson<EnvironmentStatus>(`${server.url}/api/environments/shop`);
  const withMode = (mode: string): ServiceOptions => ({ ...service, envs: { shop: { ...service.envs.shop!, config: { MODE: mode } } } });

  async function deployAndWait(): Promise<EnvironmentStatus> {
    const last = (await status()).lastRollout?.id ?? 0;
    const r = await cli('deploy', 'shop', '--detach');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    let s: EnvironmentStatus | null = null;
    await waitFor('the rollout to end', async () => {
      s = await status();
      return s.rollout === null && s.lastRollout !== null && s.lastRollout.id > last;
    }, 60_000);
    return s!;
  }

  beforeAll(async () => {
    work = scratchDir();
    app = join(work, 'shop');
    dataDir = join(work, '.slipway');
    callsFile = join(dataDir, 'app-data', 'hello', 'shop', 'calls.log');
    port = await freePort();
    service = {
      service: 'hello',
      version: '1.0.0',
      envs: {
        shop: {
          instances: 2, port,
          strategyYaml: 'type: canary\nsteps:\n  - shadow: { duration: 5s, percent: 50, paths: [/api/*], max_diff_rate: 1%, min_requests: 20 }\n  - weight: 50',
          config: { MODE: 'stable' },
        },
      },
    };
    writeService(app, service);
    copyFileSync(join(import.meta.dirname, 'fixtures', 'shadow-service', 'server.js'), join(app, 'server.js'));
    server = await startServerProcess(dataDir);
    const r = await cli('deploy', 'shop');
    expect(r.code, r.stdout + r.stderr).toBe(0);
  }, 90_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('fails a release that changes one JSON field on one endpoint, naming the field, before any user reaches it; users see 0 failed requests', async () => {
    writeService(app, withMode('price'));
    const users = await startUsers(`http://127.0.0.1:${port}`);
    const s = await deployAndWait();
    const load = await users.stop();
    expect(s.lastRollout?.phase).toBe('failed');
    expect(s.lastRollout?.reason).toContain('shadow traffic');
    expect(s.lastRollout?.reason).toContain('GET /api/items/:id /body/price');
    expect(s.shadow?.decision).toBe('fail');
    expect(s.shadow?.fields[0]).toMatchObject({ endpoint: 'GET /api/items/:id', field: '/body/price' });
    // Noise (updatedAt, requestId) and the endpoint that did not change are not named.
    expect(s.shadow?.fields.map((f) => f.field)).toEqual(['/body/price']);
    expect(s.shadow?.examples[0]).toMatchObject({ field: '/body/price' });
    expect(Number(s.shadow?.examples[0]?.candidate)).toBe(Number(s.shadow?.examples[0]?.stable) + 1);
    expect(s.stable?.number).toBe(1);
    // Users only ever got the stable release's answers, and none failed.
    expect(load.failed, load.errors.slice(0, 5).join('\n')).toBe(0);
    expect(Object.keys(load.byRelease)).toEqual(['1']);
    expect(load.requests).toBeGreaterThan(100);
    const text = await cli('status', 'shop');
    expect(text.stdout).toMatch(/shadow: +fail/);
    expect(text.stdout).toContain('GET /api/items/:id /body/price');
  }, 120_000);

  it('passes a release whose answers differ only in timestamps and random ids, and never copies a POST', async () => {
    writeService(app, withMode('same-answers'));
    const before = existsSync(callsFile) ? readFileSync(callsFile, 'utf8').split('\n').filter(Boolean).length : 0;
    const users = await startUsers(`http://127.0.0.1:${port}`);
    const s = await deployAndWait();
    const load = await users.stop();
    expect(s.lastRollout?.phase, s.lastRollout?.reason ?? '').toBe('succeeded');
    expect(s.shadow?.decision).toBe('pass');
    expect(s.shadow?.compared).toBeGreaterThanOrEqual(20);
    expect(s.shadow?.differing).toBe(0);
    expect(load.failed, load.errors.slice(0, 5).join('\n')).toBe(0);
    // Every POST the service got came from a user: as many as the users sent, none a copy.
    const calls = readFileSync(callsFile, 'utf8').split('\n').filter(Boolean).slice(before);
    expect(calls.filter((c) => c.includes(' copy '))).toEqual([]);
    expect(calls).toHaveLength(load.posts);
  }, 120_000);
});
