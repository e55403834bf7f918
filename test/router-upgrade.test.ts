// Upgrading the router with no gap (issue 17): a real router process (a keeper and
// its workers, router-workers.ts) started as the server starts it, a real WebSocket
// backend, steady load on fresh and on kept-alive connections. POST /upgrade forks
// new workers that take the listening sockets over; the old ones stop accepting,
// finish their requests and keep their WebSockets until the drain deadline.

import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { WebSocket } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureRouter, type RouterClient } from '../src/router/router-client.ts';
import { RouterSupervisor } from '../src/router/router-supervisor.ts';
import { freePort, runLoad } from '../src/router/test-upstream.ts';
import { startWebSocketUpstream, type WebSocketUpstream } from '../src/router/test-websocket-upstream.ts';

const DRAIN_MS = 3_000;
const REPO = fileURLToPath(new URL('..', import.meta.url));

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Router workers only: tsx may have an esbuild child of its own there.
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid && readFileSync(`/proc/${name}/cmdline`, 'utf8').includes('router-main')) out.push(Number(name));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

function getOnce(port: number): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, headers: { connection: 'close' }, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', (e) => resolve(e.message));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve(e.message));
    req.end();
  });
}

/**
 * Load on 127.0.0.1:`port` until stopped: 4 clients each on a fresh connection per
 * request (what a worker that stops accepting would fail), and 4 on kept-alive ones
 * for `keptAliveMs`. `stop` gives the fresh answers (status or error) and the kept-alive tally.
 */
function steadyLoad(port: number, keptAliveMs: number): { stop(): Promise<{ fresh: (number | string)[]; load: Awaited<ReturnType<typeof runLoad>> }> } {
  let stopped = false;
  const fresh: (number | string)[] = [];
  const clients = Array.from({ length: 4 }, async () => {
    while (!stopped) fresh.push(await getOnce(port));
  });
  const keptAlive = runLoad({ url: `http://127.0.0.1:${port}/`, concurrency: 4, untilMs: keptAliveMs });
  return {
    async stop() {
      stopped = true;
      await Promise.all(clients);
      return { fresh, load: await keptAlive };
    },
  };
}

/** Opens a WebSocket; `ask` sends and waits for the echo; `closed` resolves at its close. */
async function openSocket(url: string): Promise<{ ws: WebSocket; ask(text: string): Promise<string>; closed: Promise<number> }> {
  const ws = new WebSocket(url);
  const waiters: ((m: string) => void)[] = [];
  ws.addEventListener('message', (e) => waiters.shift()?.(String(e.data)));
  const closed = new Promise<number>((resolve) => ws.addEventListener('close', () => resolve(Date.now())));
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve(), { once: true });
    ws.addEventListener('error', () => reject(new Error('websocket failed to open')), { once: true });
  });
  const ask = (text: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no echo within 2 s')), 2_000);
      waiters.push((m) => {
        clearTimeout(timer);
        resolve(m);
      });
      ws.send(text);
    });
  return { ws, ask, closed };
}

describe('a router upgrade', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'slipway-router-upgrade-'));
  let router: RouterClient;
  let backend: WebSocketUpstream;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    backend = await startWebSocketUpstream('b1');
    router = await ensureRouter({ stateDir });
    await router.putRoutes({ version: 1, environments: { web: { listen: `127.0.0.1:${port}`, backends: [{ id: 'b1', release: 'r1', url: backend.url }], weights: { r1: 100 } } } });
  });

  afterAll(async () => {
    try {
      process.kill(-router.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await backend?.kill();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('hands the listeners to new workers under load with 0 failed requests, and the old ones keep their WebSocket until the drain deadline', async () => {
    const old = childrenOf(router.pid);
    expect(old).toHaveLength(2);
    const socket = await openSocket(`ws://127.0.0.1:${port}/`);
    expect(await socket.ask('before')).toBe('before');

    const traffic = steadyLoad(port, 4_000);
    await new Promise((r) => setTimeout(r, 1_000));
    const upgradedAt = Date.now();
    const answer = await router.upgradeWorkers(DRAIN_MS);
    await new Promise((r) => setTimeout(r, 1_000));
    const { fresh, load } = await traffic.stop();

    const freshFailed = fresh.filter((r) => r !== 200);
    console.log(`router upgrade: ${freshFailed.length} of ${fresh.length} requests on fresh connections failed, ${load.failed} of ${load.ok + load.failed} on kept-alive ones`, freshFailed.slice(0, 3), load.failures);
    expect(freshFailed).toEqual([]);
    expect(load.failed).toBe(0);
    expect(fresh.length).toBeGreaterThan(50);
    expect(answer.retiring.sort()).toEqual(old.sort());
    expect(answer.serving).toHaveLength(2);
    expect(answer.serving.filter((p) => old.includes(p))).toEqual([]);

    // The WebSocket lives on in an old worker, which accepts nothing new.
    expect(await socket.ask('during the drain')).toBe('during the drain');
    const closedAt = await socket.closed;
    expect(closedAt - upgradedAt).toBeGreaterThanOrEqual(DRAIN_MS - 200);
    for (const pid of old) {
      await expect.poll(() => childrenOf(router.pid).includes(pid), { timeout: 10_000 }).toBe(false);
    }

    // The new workers serve WebSockets and take new tables.
    const next = await openSocket(`ws://127.0.0.1:${port}/`);
    expect(await next.ask('after')).toBe('after');
    next.ws.close();
    const put = await router.putRoutes({ version: 2, environments: { web: { listen: `127.0.0.1:${port}`, backends: [{ id: 'b1', release: 'r2', url: backend.url }], weights: { r2: 100 } } } });
    expect(put.listeners.web).toMatchObject({ listening: true });
    expect(await getOnce(port)).toBe(200);
    expect((await router.getStatus()).code).toMatch(/^[0-9a-f]{16}$/);
  });

  it('takes a table with a key only the upgraded workers know (the keeper is not replaced), and still refuses a bad one', async () => {
    // The next slipway's router: these sources, with one more route-table key.
    const next = mkdtempSync(join(tmpdir(), 'slipway-router-next-'));
    try {
      cpSync(join(REPO, 'src'), join(next, 'src'), { recursive: true });
      for (const f of ['package.json', 'tsconfig.json']) cpSync(join(REPO, f), join(next, f));
      symlinkSync(join(REPO, 'node_modules'), join(next, 'node_modules'));
      const tableFile = join(next, 'src', 'router', 'route-table.ts');
      const text = readFileSync(tableFile, 'utf8');
      expect(text).toContain('  weights: z.record(');
      writeFileSync(tableFile, text.replace('  weights: z.record(', '  futureKey: z.string().optional(),\n  weights: z.record('));
      const program = { execArgv: ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href], entry: join(next, 'src', 'router', 'router-main.ts') };
      const before = (await router.getStatus()).code;
      const answer = await router.upgradeWorkers(0, program);
      expect(answer.code).not.toBe(before);

      const env = { listen: `127.0.0.1:${port}`, backends: [{ id: 'b1', release: 'r3', url: backend.url }], weights: { r3: 100 } };
      const put = await router.putRoutes({ version: 3, environments: { web: { ...env, futureKey: 'x' } } } as never);
      expect(put.listeners.web).toMatchObject({ listening: true });
      expect(await getOnce(port)).toBe(200);
      // A key neither knows is still refused, with what is wrong, and changes nothing.
      await expect(router.putRoutes({ version: 4, environments: { web: { ...env, typo: 1 } } } as never)).rejects.toThrow(/typo/);
      expect((await router.getRouteHead()).version).toBe(3);
    } finally {
      rmSync(next, { recursive: true, force: true });
    }
  });

  it('runs only code other users cannot change, with the node options a server sends', async () => {
    const scratch = mkdtempSync(join(tmpdir(), 'slipway-router-planted-'));
    try {
      const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
      const planted = join(scratch, 'router');
      mkdirSync(planted);
      writeFileSync(join(planted, 'router-main.ts'), 'process.exit(0);\n');
      // A directory anyone may write to, as /tmp is: refused.
      chmodSync(planted, 0o777);
      await expect(router.upgradeWorkers(0, { execArgv: ['--import', tsx], entry: join(planted, 'router-main.ts') })).rejects.toThrow(/may be changed by other users \(mode 777\)/);
      chmodSync(planted, 0o755);
      chmodSync(join(planted, 'router-main.ts'), 0o666);
      await expect(router.upgradeWorkers(0, { execArgv: ['--import', tsx], entry: join(planted, 'router-main.ts') })).rejects.toThrow(/may be changed by other users \(mode 666\)/);
      // Node options that would load other code first.
      const real = join(REPO, 'src', 'router', 'router-main.ts');
      await expect(router.upgradeWorkers(0, { execArgv: ['--require', join(planted, 'router-main.ts')], entry: real })).rejects.toThrow(/program.execArgv must be/);
      // Nothing was started: the same code serves.
      expect(await getOnce(port)).toBe(200);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('takes the worker count a server asks for (slipway server --router-workers) with 0 failed requests, and refuses one out of range', async () => {
    expect((await router.getStatus()).workers).toBe(2);
    const traffic = steadyLoad(port, 3_000);
    await new Promise((r) => setTimeout(r, 500));
    // A server started with --router-workers 3 adopts the running router and changes its count.
    const said: string[] = [];
    const supervisor = await RouterSupervisor.start({ stateDir, workers: 3 }, (m) => said.push(m));
    await new Promise((r) => setTimeout(r, 500));
    const { fresh, load } = await traffic.stop();
    expect(supervisor.pid).toBe(router.pid);
    expect(said.join('\n')).toContain('workers 2 → 3');
    expect((await router.getStatus()).workers).toBe(3);
    await expect.poll(() => childrenOf(router.pid).length, { timeout: 40_000 }).toBe(3);
    expect(fresh.filter((r) => r !== 200)).toEqual([]);
    expect(fresh.length).toBeGreaterThan(20);
    expect(load.failed).toBe(0);
    // The same count again changes nothing.
    said.length = 0;
    await RouterSupervisor.start({ stateDir, workers: 3 }, (m) => said.push(m));
    expect(said).toEqual([]);
    await expect(router.upgradeWorkers(0, undefined, 0)).rejects.toThrow(/workers must be a whole number from 1 to 64, got 0/);
    await expect(router.upgradeWorkers(0, undefined, 65)).rejects.toThrow(/got 65/);
    expect((await router.getStatus()).workers).toBe(3);
    expect(await getOnce(port)).toBe(200);
  }, 60_000);
});
