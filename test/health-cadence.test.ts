// A serving instance is probed every `health.steady_interval` once its last probe
// passed (a probe a second was most of a quiet app's log), every `interval` again
// once one fails, and still retired after `unhealthy_threshold` failures.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnvironmentStatus } from '../src/engine/status-view.ts';
import { freePort, getJson, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';

// Counts its probes (by the probe's User-Agent) and answers them 503 once told to.
const APP = `
import http from 'node:http';
let probes = 0;
let sick = false;
http.createServer((req, res) => {
  if (req.url === '/healthz') {
    if (req.headers['user-agent'] === 'slipway-health') probes += 1;
    res.writeHead(sick ? 503 : 200).end(sick ? 'sick' : 'ok');
  } else if (req.url === '/probes') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ probes }));
  } else if (req.url === '/sick') {
    sick = true;
    res.end('now sick');
  } else {
    res.end('hello');
  }
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

describe('health probes of a serving instance', () => {
  let dataDir: string;
  let server: ServerProcess;
  let url: string;
  const status = () => getJson<EnvironmentStatus>(`${server.url}/api/environments/hello%2Fproduction`);

  beforeAll(async () => {
    const work = scratchDir();
    const app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    writeService(app, { health: { interval: '200ms' }, envs: { production: { instances: 1, port } } });
    writeFileSync(join(app, 'server.js'), APP);
    const yaml = readFileSync(join(app, 'slipway.yaml'), 'utf8');
    writeFileSync(join(app, 'slipway.yaml'), yaml.replace(/^( {2}start_deadline: .*)$/m, '$1\n  steady_interval: 2s'));
    server = await startServerProcess(dataDir);
    const r = await runCli(['deploy', 'production'], { cwd: app, dataDir });
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  const probes = async () => ((await (await fetch(`${url}/probes`)).json()) as { probes: number }).probes;

  it('come every steady_interval while it passes, and a sick one is still retired', async () => {
    // The rollout is over when deploy returns; give the monitor a moment to settle on its pace.
    await new Promise((r) => setTimeout(r, 1_000));
    const before = await probes();
    await new Promise((r) => setTimeout(r, 6_000));
    const inSix = (await probes()) - before;
    // Every 2 s: about 3 in 6 s (every `interval` of 200 ms would be about 30).
    expect(inSix).toBeGreaterThanOrEqual(2);
    expect(inSix).toBeLessThanOrEqual(5);

    const id = (await status()).instances[0]!.id;
    await fetch(`${url}/sick`);
    // One steady probe finds it failing (within 2 s), then two more 200 ms apart retire it.
    const sickAt = Date.now();
    await waitFor('the sick instance to be retired', async () => (await status()).instances.every((i) => i.id !== id || i.state !== 'ready'), 15_000);
    const retiredAfterMs = Date.now() - sickAt;
    expect(retiredAfterMs).toBeLessThan(6_000);
  }, 60_000);
});
