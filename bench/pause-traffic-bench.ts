// What a traffic pause costs the router: memory per held request, and how long it
// takes to answer all of them once the pause is lifted. A real router process (as
// the server starts it), one real backend, N clients each with its own connection
// sending one request during the pause.
//
//   node --import tsx bench/pause-traffic-bench.ts [--requests 5000]

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { ensureRouter } from '../src/router/router-client.ts';
import type { EnvRoutes } from '../src/router/route-table.ts';
import { freePort, startTestUpstream } from '../src/router/test-upstream.ts';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '5000' } } });
const total = Number(values.requests);

function rssKb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(/(\d+)/.exec(line)![1]);
}

const stateDir = mkdtempSync(join(tmpdir(), 'slipway-pause-bench-'));
const router = await ensureRouter({ stateDir });
const app = await startTestUpstream('app');
const port = await freePort();
let version = 0;
const put = (extra: Partial<EnvRoutes>) => router.putRoutes({
  version: ++version,
  environments: { 'bench/production': { listen: `127.0.0.1:${port}`, backends: [{ id: 'a', release: '1', url: app.url }], weights: { '1': 100 }, ...extra } },
});
const agent = new Agent({ connections: null, keepAliveTimeout: 60_000 });
try {
  await put({});
  // Warm the path (and the pool to the backend) before measuring.
  for (let i = 0; i < 200; i++) await (await request(`http://127.0.0.1:${port}/`, { dispatcher: agent })).body.text();
  await new Promise((r) => setTimeout(r, 500));
  const rssBefore = rssKb(router.pid);

  await put({ hold: { untilMs: Date.now() + 120_000, queueLimit: 100_000 } });
  let failed = 0;
  let answered = 0;
  const answers = Array.from({ length: total }, async () => {
    try {
      const res = await request(`http://127.0.0.1:${port}/`, { dispatcher: agent });
      await res.body.text();
      if (res.statusCode !== 200) failed++;
    } catch {
      failed++;
    }
    answered++;
  });
  // Asked again on a failure: once, under this load, the admin connection was closed under a /stats.
  const heldNow = async (): Promise<number> => (await router.getStats().catch(() => null))?.gated['bench/production']?.held ?? -1;
  const deadline = Date.now() + 60_000;
  while ((await heldNow()) < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  const held = await heldNow();
  const answeredEarly = answered;
  const rssHeld = rssKb(router.pid);

  const t0 = performance.now();
  await put({});
  await Promise.all(answers);
  const releaseMs = performance.now() - t0;

  console.log(`held ${held} of ${total} requests (answered before the resume: ${answeredEarly})`);
  console.log(`router RSS ${Math.round(rssBefore / 1024)} MB → ${Math.round(rssHeld / 1024)} MB while holding: ${((rssHeld - rssBefore) / total).toFixed(1)} KB per held request (its connection included)`);
  console.log(`all ${total} answered ${releaseMs.toFixed(0)} ms after the resume was sent (${Math.round(total / (releaseMs / 1000))} req/s); failed: ${failed}`);
} catch (e) {
  console.error(`failed: ${(e as Error).message}\nrouter.log ends:\n${readFileSync(join(stateDir, 'router.log'), 'utf8').split('\n').slice(-15).join('\n')}`);
  process.exitCode = 1;
} finally {
  await agent.close();
  await router.shutdown().catch(() => undefined);
  await app.kill();
  rmSync(stateDir, { recursive: true, force: true });
}
