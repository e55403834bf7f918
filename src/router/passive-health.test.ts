// Passive health: the ejection rules with time as a parameter, then one in-process
// router whose backend stops answering while a load runs through it.

import { createServer, type Server } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { BackendHealth, PassiveHealth, type HeaderWaiter, type TrackedBackend } from './passive-health.ts';
import { Router } from './router.ts';
import { runLoad } from './test-upstream.ts';
import { WeightedPicker } from './weighted-picker.ts';

function backend(id: string): TrackedBackend {
  return { env: 'prod', id, release: 'r1', health: new BackendHealth(), counters: { ejections: 0 } };
}

function waiter(sentAtMs: number): HeaderWaiter & { stalledCalls: number } {
  const w = { sentAtMs, stalledCalls: 0, onBackendStalled: () => void w.stalledCalls++ };
  return w;
}

function setup(n: number): { health: PassiveHealth; all: TrackedBackend[] } {
  const all = Array.from({ length: n }, (_, i) => backend(`b${i}`));
  return { all, health: new PassiveHealth({ peers: () => all }) };
}

/** One request that got its header after `ms`. */
function answer(health: PassiveHealth, b: TrackedBackend, atMs: number, ms = 5): void {
  const w = waiter(atMs - ms);
  health.sent(b, w);
  health.answered(b, w, atMs);
}

describe('passive health rules', () => {
  it('ejects after three failures in a row, and a header in between resets the count', () => {
    const { health, all } = setup(3);
    const b = all[0]!;
    for (const t of [1, 2]) health.settled(b, waiter(t), 'ECONNREFUSED', t);
    answer(health, b, 3);
    for (const t of [4, 5]) health.settled(b, waiter(t), 'ECONNREFUSED', t);
    expect(b.health.state).toBe('in');
    health.settled(b, waiter(6), 'UND_ERR_HEADERS_TIMEOUT', 6);
    expect(b.health.state).toBe('ejected');
    expect(b.health.isUsable).toBe(false);
    expect(b.counters.ejections).toBe(1);
    for (const t of [7, 8, 9]) health.settled(b, waiter(t), 'UND_ERR_HEADERS_TIMEOUT', t);
    expect(b.counters.ejections).toBe(1); // requests left waiting on it end later: no second ejection
    expect(b.health.ejectedUntilMs).toBe(6 + 10_000);
  });

  it('a client that left is not a failure of the backend', () => {
    const { health, all } = setup(3);
    for (let t = 0; t < 5; t++) health.settled(all[0]!, waiter(t), null, t);
    expect(all[0]!.health.state).toBe('in');
  });

  it('ejects a backend that answered before and now sends no header past the stall floor, telling each waiting request', () => {
    const { health, all } = setup(3);
    const b = all[0]!;
    answer(health, b, 1_000);
    const stuck = [waiter(1_010), waiter(1_020)];
    for (const w of stuck) health.sent(b, w);
    health.sweep(all, 1_500);
    expect(b.health.state).toBe('in'); // 490 ms: under the 500 ms floor
    health.sweep(all, 1_520);
    expect(b.health.state).toBe('ejected');
    expect(stuck.map((w) => w.stalledCalls)).toEqual([1, 1]);
  });

  it('a slow request is no stall while the backend keeps answering others', () => {
    const { health, all } = setup(3);
    const b = all[0]!;
    answer(health, b, 1_000);
    health.sent(b, waiter(1_000));
    for (let t = 1_100; t <= 3_000; t += 100) {
      answer(health, b, t);
      health.sweep(all, t);
    }
    expect(b.health.state).toBe('in');
  });

  it('the stall threshold follows the backend’s recent peak time to header', () => {
    const { health, all } = setup(3);
    const b = all[0]!;
    answer(health, b, 10_000, 400); // a 400 ms answer: threshold 4 × 400 = 1600 ms
    health.sent(b, waiter(10_000));
    health.sweep(all, 11_500);
    expect(b.health.state).toBe('in');
    health.sweep(all, 11_700);
    expect(b.health.state).toBe('ejected');
  });

  it('a backend that never answered is not judged by stalls (it may be warming up)', () => {
    const { health, all } = setup(3);
    health.sent(all[0]!, waiter(0));
    health.sweep(all, 60_000);
    expect(all[0]!.health.state).toBe('in');
  });

  it('ejects at most half of an environment, and never its only backend', () => {
    const four = setup(4);
    for (const b of four.all) for (let t = 0; t < 3; t++) four.health.settled(b, waiter(t), 'ECONNRESET', t);
    expect(four.all.map((b) => b.health.state)).toEqual(['ejected', 'ejected', 'in', 'in']);
    expect(four.all.map((b) => b.counters.ejections)).toEqual([1, 1, 0, 0]);
    const one = setup(1);
    for (let t = 0; t < 3; t++) one.health.settled(one.all[0]!, waiter(t), 'ECONNRESET', t);
    expect(one.all[0]!.health.state).toBe('in');
  });

  it('a refused ejection is logged once, not at every sweep of a stall', () => {
    const all = [backend('a'), backend('b')];
    const warnings: string[] = [];
    const health = new PassiveHealth({ peers: () => all, log: { info: () => {}, warn: (_f, msg) => void warnings.push(msg) } });
    for (let t = 0; t < 3; t++) health.settled(all[0]!, waiter(t), 'ECONNRESET', t);
    answer(health, all[1]!, 10);
    health.sent(all[1]!, waiter(20));
    for (let t = 600; t < 2_000; t += 100) health.sweep(all, t);
    expect(all.map((b) => b.health.state)).toEqual(['ejected', 'in']);
    expect(warnings.filter((m) => m.includes('stays in the router'))).toHaveLength(1);
  });

  it('after its cool-down a backend gets a trial: a header brings it back, a failure ejects it for twice as long', () => {
    const { health, all } = setup(3);
    const b = all[0]!;
    for (let t = 0; t < 3; t++) health.settled(b, waiter(t), 'ECONNRESET', t);
    expect(b.health.ejectedUntilMs).toBe(2 + 10_000);
    health.sweep(all, 10_001);
    expect(b.health.state).toBe('ejected');
    health.sweep(all, 10_002);
    expect(b.health.state).toBe('trial');
    expect(b.health.isUsable).toBe(true);
    health.settled(b, waiter(10_003), 'ECONNRESET', 10_003);
    expect(b.health.state).toBe('ejected');
    expect(b.health.ejectedUntilMs).toBe(10_003 + 20_000);
    health.sweep(all, 30_003);
    answer(health, b, 30_010);
    expect(b.health.state).toBe('in');
    expect(b.health.strikes).toBe(0);
    expect(b.counters.ejections).toBe(2);
  });

  it('the picker skips ejected backends, and takes one anyway when its release has nothing else', () => {
    const usable = new Set(['a', 'c']);
    const picker = new WeightedPicker([{ release: 'r1', weight: 100, backends: ['a', 'b', 'c'] }], (b) => usable.has(b));
    const picks = Array.from({ length: 30 }, () => picker.pick());
    expect(new Set(picks)).toEqual(new Set(['a', 'c']));
    expect(picker.pickOther('a', 'r1')).toBe('c');
    usable.clear();
    expect(picker.pick()).not.toBeNull();
    expect(picker.pickOther('a', 'r1')).toBeNull();
  });
});

/** A backend that answers its id until `hang()`, then accepts requests and never answers (like SIGSTOP). */
async function hangableBackend(id: string): Promise<{ url: string; server: Server; hang(): void; hits: () => number }> {
  let isHung = false;
  let hits = 0;
  const server = createServer((_req, res) => {
    hits++;
    if (!isHung) res.end(id);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return { url, server, hang: () => (isHung = true), hits: () => hits };
}

describe('passive health in the router', () => {
  const router = new Router({ closeGraceMs: 500 });
  const servers: Server[] = [];

  afterAll(async () => {
    await router.close(200);
    for (const s of servers) s.closeAllConnections();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  it('a backend that stops answering is ejected within a second and its waiting GETs go elsewhere', async () => {
    const backends = await Promise.all(['a', 'b', 'c'].map((id) => hangableBackend(id)));
    servers.push(...backends.map((b) => b.server));
    const result = await router.putTable(
      {
        version: 1,
        environments: { prod: { listen: '127.0.0.1:0', backends: backends.map((b, i) => ({ id: 'abc'[i]!, release: 'r1', url: b.url })), weights: { r1: 100 } } },
      },
      async () => {},
    );
    if (!result.ok) throw new Error('stale');
    const url = `http://${result.listeners.prod!.address}/`;
    const load = runLoad({ url, concurrency: 8, untilMs: 3_000 });
    await new Promise((r) => setTimeout(r, 500));
    backends[0]!.hang();
    const hungAt = performance.now();
    let ejectedAfterMs = -1;
    while (performance.now() - hungAt < 2_000) {
      if (router.statsJson().backends.a?.health === 'ejected') {
        ejectedAfterMs = performance.now() - hungAt;
        break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    const hitsAtEjection = backends[0]!.hits();
    const out = await load;
    const stats = router.statsJson().environments.prod!.r1!;
    console.log(`ejected after ${Math.round(ejectedAfterMs)} ms; ${out.failed} of ${out.ok + out.failed} requests failed; ${stats.retries} re-sent`);
    expect(ejectedAfterMs).toBeGreaterThan(0);
    expect(ejectedAfterMs).toBeLessThan(1_000);
    expect(out.failed).toBe(0);
    expect(backends[0]!.hits()).toBe(hitsAtEjection);
    expect(stats.ejections).toBe(1);
  });
});
