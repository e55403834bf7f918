// WebSockets through slipway's router (issue 17): a real router process started
// as the server starts it, route tables pushed to it directly, real WebSocket
// backends on 127.0.0.1 and undici's WebSocket client. An upgraded connection is
// routed by weight and stickiness at connect time, echoes exactly what a direct one
// does, is counted per backend and release, holds its backend's drain until it
// closes or the drain deadline passes, and then is closed by the router.

import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PROXY_SETTINGS } from '../src/router/proxy-settings.ts';
import { ensureRouter, type RouterClient } from '../src/router/router-client.ts';
import type { EnvRoutes, RouteTable } from '../src/router/route-table.ts';
import { freePort } from '../src/router/test-upstream.ts';
import { startWebSocketUpstream, type WebSocketUpstream } from '../src/router/test-websocket-upstream.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A WebSocket that collects what it receives, with a promise per next message. */
class TestSocket {
  readonly ws: WebSocket;
  readonly received: string[] = [];
  private waiters: ((m: string) => void)[] = [];
  closedAtMs: number | null = null;
  readonly closed: Promise<{ code: number }>;

  constructor(url: string, headers: Record<string, string> = {}) {
    this.ws = new WebSocket(url, { headers });
    this.ws.binaryType = 'arraybuffer';
    this.ws.addEventListener('message', (e) => {
      const text = typeof e.data === 'string' ? e.data : `bin:${Buffer.from(e.data as ArrayBuffer).toString('base64')}`;
      this.received.push(text);
      this.waiters.shift()?.(text);
    });
    this.closed = new Promise((resolve) => {
      this.ws.addEventListener('close', (e) => {
        this.closedAtMs = performance.now();
        resolve({ code: e.code });
      });
    });
  }

  opened(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.ws.readyState === WebSocket.OPEN) return resolve();
      this.ws.addEventListener('open', () => resolve(), { once: true });
      this.ws.addEventListener('error', () => reject(new Error('websocket failed to open')), { once: true });
    });
  }

  /** Sends and waits for the next message back. */
  ask(data: string | Buffer, timeoutMs = 2_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((m) => {
        clearTimeout(timer);
        resolve(m);
      });
      this.ws.send(data);
    });
  }
}

describe('WebSockets through the router', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'slipway-router-ws-'));
  const sockets: TestSocket[] = [];
  let router: RouterClient;
  let port = 0;
  let version = 0;
  let ws1: WebSocketUpstream;
  let ws2: WebSocketUpstream;

  const wsUrl = (path = '/'): string => `ws://127.0.0.1:${port}${path}`;

  function open(url: string, headers?: Record<string, string>): TestSocket {
    const s = new TestSocket(url, headers);
    sockets.push(s);
    return s;
  }

  async function push(backends: Array<[WebSocketUpstream, string]>, weights: Record<string, number>, extra: Partial<EnvRoutes> = {}): Promise<void> {
    const table: RouteTable = {
      version: ++version,
      environments: { test: { listen: `127.0.0.1:${port}`, backends: backends.map(([u, release]) => ({ id: u.id, release, url: u.url })), weights, ...extra } },
    };
    const answer = await router.putRoutes(table);
    expect(answer.listeners.test).toMatchObject({ listening: true });
  }

  beforeAll(async () => {
    port = await freePort();
    router = await ensureRouter({ stateDir });
    ws1 = await startWebSocketUpstream('ws1');
    ws2 = await startWebSocketUpstream('ws2');
  });

  afterAll(async () => {
    for (const s of sockets) s.ws.close();
    try {
      process.kill(-router.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await Promise.all([ws1?.kill(), ws2?.kill()]);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('echoes through the router exactly what it echoes directly, and measures the round trip', async () => {
    await push([[ws1, 'r1']], { r1: 100 });
    const messages = ['hello', 'é ünïcödé ✓', 'x'.repeat(70_000), Buffer.from([0, 1, 2, 255]), Buffer.alloc(200_000, 7)];
    const direct = open(ws1.url.replace('http', 'ws'));
    const routed = open(wsUrl());
    await Promise.all([direct.opened(), routed.opened()]);
    for (const m of messages) {
      await direct.ask(m);
      await routed.ask(m);
    }
    expect(routed.received).toEqual(direct.received);
    expect(routed.received).toHaveLength(messages.length);

    // Round trips of a small message, one after another, direct and through the router.
    const roundTrips = async (s: TestSocket, n: number): Promise<number> => {
      const times: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        await s.ask(`ping ${i}`);
        times.push(performance.now() - t);
      }
      return times.sort((a, b) => a - b)[Math.floor(n / 2)]!;
    };
    const directMs = await roundTrips(direct, 500);
    const routedMs = await roundTrips(routed, 500);
    console.log(`WebSocket echo, median of 500 round trips: direct ${directMs.toFixed(3)} ms, through the router ${routedMs.toFixed(3)} ms`);
    // A Nagle or delayed-ACK stall (the router's sockets without noDelay) would add ~40 ms.
    expect(routedMs).toBeLessThan(directMs + 20);
    direct.ws.close();
    routed.ws.close();
    await Promise.all([direct.closed, routed.closed]);
  });

  it('sends the upgrade request on with its WebSocket headers and X-Forwarded-*', async () => {
    const s = open(wsUrl('/chat?room=1'), { 'x-forwarded-proto': 'https' });
    await s.opened();
    const h = ws1.upgradeHeaders.at(-1)!;
    expect(h['sec-websocket-key']).toBeTruthy();
    expect(h['sec-websocket-version']).toBe('13');
    expect(h.upgrade).toBe('websocket');
    expect(h['x-forwarded-for']).toBe('127.0.0.1');
    // A loopback peer is trusted by default: its scheme is believed.
    expect(h['x-forwarded-proto']).toBe('https');
    s.ws.close();
    await s.closed;
  });

  it('routes each connection by weight at connect time (400 connections split 25/75 within ±7%)', async () => {
    await push([[ws1, 'r1'], [ws2, 'r2']], { r1: 25, r2: 75 });
    const counts: Record<string, number> = {};
    for (let batch = 0; batch < 8; batch++) {
      const batchSockets = Array.from({ length: 50 }, () => open(wsUrl()));
      await Promise.all(batchSockets.map((s) => s.opened()));
      for (const id of await Promise.all(batchSockets.map((s) => s.ask('whoami')))) counts[id] = (counts[id] ?? 0) + 1;
      for (const s of batchSockets) s.ws.close();
      await Promise.all(batchSockets.map((s) => s.closed));
    }
    expect((counts.ws1 ?? 0) + (counts.ws2 ?? 0)).toBe(400);
    expect(Math.abs((counts.ws1 ?? 0) / 400 - 0.25)).toBeLessThanOrEqual(0.07);
  });

  it('keeps a sticky canary user on their side, and honours x-slipway-track', async () => {
    await push([[ws1, 'r1'], [ws2, 'r2']], { r1: 50, r2: 50 }, { sticky: { canary: 'r2', stable: 'r1', header: 'x-user' } });
    const sides = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const s = open(wsUrl(), { 'x-user': 'alice' });
      await s.opened();
      sides.add(await s.ask('whoami'));
      s.ws.close();
    }
    expect(sides.size).toBe(1);
    for (const [track, id] of [['canary', 'ws2'], ['stable', 'ws1']] as const) {
      const s = open(wsUrl(), { 'x-slipway-track': track });
      await s.opened();
      expect(await s.ask('whoami')).toBe(id);
      s.ws.close();
    }
  });

  it('counts upgraded connections per backend and release, apart from requests and latency', async () => {
    await push([[ws1, 'r1']], { r1: 100 });
    const before = await router.getStats();
    const open3 = [open(wsUrl()), open(wsUrl()), open(wsUrl())];
    await Promise.all(open3.map((s) => s.opened()));
    await Promise.all(open3.map((s) => s.ask('hi')));
    const during = await router.getStats();
    expect(during.backends.ws1).toMatchObject({ upgraded: 3, inflight: 0 });
    const r1 = during.environments.test!.r1!;
    expect(r1.upgraded.open).toBe(3);
    expect(r1.upgraded.opened - before.environments.test!.r1!.upgraded.opened).toBe(3);
    expect(r1.requests).toBe(before.environments.test!.r1!.requests);
    expect(r1.latency.count).toBe(before.environments.test!.r1!.latency.count);
    expect(await router.inflight('ws1')).toBe(3);
    for (const s of open3) s.ws.close();
    await Promise.all(open3.map((s) => s.closed));
    await waitFor(async () => (await router.getStats()).backends.ws1?.upgraded === 0);
    const after = (await router.getStats()).environments.test!.r1!;
    expect(after.upgraded).toMatchObject({ open: 0, errors: before.environments.test!.r1!.upgraded.errors, cut: before.environments.test!.r1!.upgraded.cut });
  });

  it('keeps a WebSocket of a backend removed from the table open through the drain, closes it at the deadline, and waitDrained reports it', async () => {
    await push([[ws1, 'r1'], [ws2, 'r2']], { r1: 100, r2: 0 });
    const s = open(wsUrl());
    await s.opened();
    expect(await s.ask('whoami')).toBe('ws1');
    // ws1 leaves the table, as a rollout retires its instance.
    await push([[ws2, 'r2']], { r2: 100 });
    const newcomer = open(wsUrl());
    await newcomer.opened();
    expect(await newcomer.ask('whoami')).toBe('ws2');

    const startedAt = performance.now();
    const draining = router.waitDrained('ws1', 1_500);
    // Mid-drain the old connection still works both ways.
    await sleep(700);
    expect(await s.ask('still there?')).toBe('still there?');
    const result = await draining;
    const waitedMs = performance.now() - startedAt;
    expect(result).toEqual({ drained: false, inflight: 1, upgraded: 1 });
    expect(waitedMs).toBeGreaterThanOrEqual(1_450);
    // The router closes it at its deadline: the client sees the close within a moment.
    await Promise.race([s.closed, sleep(2_000)]);
    expect(s.closedAtMs, 'closed by the router at the drain deadline').not.toBeNull();
    expect(s.closedAtMs! - startedAt).toBeLessThan(2_500);
    await waitFor(async () => (await router.inflight('ws1')) === 0);
    // The backend's side is closed too (by the router, not by a dying instance).
    await waitFor(async () => ws1.open.size === 0, 2_000);
    expect((await router.getStats()).environments.test!.r1!.upgraded.cut).toBeGreaterThanOrEqual(1);
    // The newcomer, on the backend that stayed, was not touched.
    expect(await newcomer.ask('and you?')).toBe('and you?');
    newcomer.ws.close();
  });

  it('reports a drain done as soon as the last WebSocket closes before the deadline', async () => {
    await push([[ws1, 'r1'], [ws2, 'r2']], { r1: 100, r2: 0 });
    const s = open(wsUrl());
    await s.opened();
    await push([[ws2, 'r2']], { r2: 100 });
    const startedAt = performance.now();
    const draining = router.waitDrained('ws1', 10_000);
    await sleep(300);
    s.ws.close();
    expect(await draining).toEqual({ drained: true, inflight: 0, upgraded: 0 });
    expect(performance.now() - startedAt).toBeLessThan(2_000);
  });

  it('closes an upgraded connection idle past proxy.idle_timeout, and not one that talks', async () => {
    await push([[ws1, 'r1']], { r1: 100 }, { proxy: { ...DEFAULT_PROXY_SETTINGS, idleTimeoutMs: 600 } });
    const before = (await router.getStats()).environments.test!.r1!.upgraded.cut;
    const idle = open(wsUrl());
    const chatty = open(wsUrl());
    await Promise.all([idle.opened(), chatty.opened()]);
    const startedAt = performance.now();
    for (let i = 0; i < 8; i++) {
      await sleep(200);
      await chatty.ask(`tick ${i}`);
    }
    expect(idle.closedAtMs).not.toBeNull();
    expect(idle.closedAtMs! - startedAt).toBeGreaterThanOrEqual(500);
    expect(chatty.closedAtMs).toBeNull();
    expect((await router.getStats()).environments.test!.r1!.upgraded.cut - before).toBe(1);
    chatty.ws.close();
  });

  it('passes a backend that refuses to switch protocols through as a plain answer', async () => {
    await push([[ws1, 'r1']], { r1: 100 });
    // Not h2c: the router serves that as plain HTTP/1.1 itself (test/router-smuggling.test.ts).
    const answer = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: irc/6.9\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 426 /);
    expect(answer).toContain('websocket only');
  });

  it('answers an upgrade with no backend to route to with a JSON 503', async () => {
    await push([[ws1, 'r1']], { r1: 0 });
    const answer = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 503 /);
    expect(answer).toContain('"error":"no_backend"');
  });
});

/** Writes a raw request and reads until the router closes the connection. */
function rawExchange(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    let out = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (out += d));
    socket.on('close', () => resolve(out));
    socket.on('error', reject);
    setTimeout(() => {
      socket.destroy();
      resolve(out);
    }, 5_000);
  });
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(25);
  }
}
