// The example service as a real child process: the behaviour every runtime,
// router and rollout test builds on, so it is pinned here first.

import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const HELLO_DIR = fileURLToPath(new URL('../examples/hello/', import.meta.url));

interface Hello {
  child: ChildProcess;
  port: number;
  lines: Array<Record<string, unknown>>;
  exited: Promise<{ code: number | null; stderr: string }>;
}

const running: ChildProcess[] = [];

afterEach(() => {
  for (const child of running.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

function spawnHello(env: Record<string, string> = {}): Omit<Hello, 'port'> {
  const child = spawn(process.execPath, ['server.js'], {
    cwd: HELLO_DIR,
    env: { PATH: process.env.PATH ?? '', PORT: '0', ...env }, // PORT=0: a free port, reported in the start line
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(child);
  const lines: Array<Record<string, unknown>> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => lines.push(JSON.parse(line)));
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.on('exit', (code) => setImmediate(() => resolve({ code, stderr }))),
  );
  return { child, lines, exited };
}

async function startHello(env: Record<string, string> = {}): Promise<Hello> {
  const hello = spawnHello(env);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const started = hello.lines.find((l) => l.msg === 'listening');
    if (started) return { ...hello, port: started.port as number };
    if (hello.child.exitCode !== null) throw new Error(`hello exited: ${(await hello.exited).stderr}`);
    if (Date.now() > deadline) throw new Error('hello did not start within 10 s');
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

function get(port: number, path: string, agent?: http.Agent): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
  });
}

describe('examples/hello', () => {
  it('answers / with its identity and defaults', async () => {
    const hello = await startHello();
    const reply = await get(hello.port, '/');
    expect(reply).toEqual({
      status: 200,
      body: { service: 'hello', version: '1.0.0', greeting: 'hello', instance: null, pid: hello.child.pid },
    });
    expect(hello.lines[0]).toMatchObject({ msg: 'listening', port: hello.port, version: '1.0.0' });
  });

  it('reports APP_VERSION, GREETING and SLIPWAY_INSTANCE from the environment', async () => {
    const hello = await startHello({ APP_VERSION: '2.3.4', GREETING: 'hi there', SLIPWAY_INSTANCE: 'staging-1' });
    const reply = await get(hello.port, '/');
    expect(reply.body).toMatchObject({ version: '2.3.4', greeting: 'hi there', instance: 'staging-1' });
  });

  it('answers /healthz with ok and unknown paths with 404', async () => {
    const hello = await startHello();
    expect(await get(hello.port, '/healthz')).toEqual({ status: 200, body: { ok: true } });
    expect((await get(hello.port, '/nope')).status).toBe(404);
  });

  it('fails /healthz with a reason under FAIL_HEALTH=1, still serving /', async () => {
    const hello = await startHello({ FAIL_HEALTH: '1' });
    const health = await get(hello.port, '/healthz');
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({ ok: false, reason: expect.stringContaining('FAIL_HEALTH') });
    expect((await get(hello.port, '/')).status).toBe(200);
  });

  it('exits 1 at once with a message under CRASH_ON_START=1', async () => {
    const { exited } = spawnHello({ CRASH_ON_START: '1' });
    const { code, stderr } = await exited;
    expect(code).toBe(1);
    expect(stderr).toContain('CRASH_ON_START');
  });

  it('exits 1 naming a knob that is out of range', async () => {
    const { exited } = spawnHello({ FAIL_RATE: '2' });
    const { code, stderr } = await exited;
    expect(code).toBe(1);
    expect(stderr).toContain('FAIL_RATE');
  });

  it('fails about FAIL_RATE of / requests over 2000 requests', async () => {
    const failRate = 0.2;
    const n = 2000;
    const hello = await startHello({ FAIL_RATE: String(failRate) });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    let failures = 0;
    let next = 0;
    const worker = async () => {
      while (next < n) {
        next += 1;
        const reply = await get(hello.port, '/', agent);
        if (reply.status === 500) failures += 1;
        else expect(reply.status).toBe(200);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    agent.destroy();
    // Binomial(2000, 0.2): mean 400, sd ≈ 17.9. Five sd either side is wrong by
    // chance less than once in a million runs.
    const sd = Math.sqrt(n * failRate * (1 - failRate));
    expect(Math.abs(failures - n * failRate)).toBeLessThan(5 * sd);
  });

  it('logs each request under LOG_EVERY_REQUEST=1 and the PRINT_ENV values once at start', async () => {
    const hello = await startHello({ LOG_EVERY_REQUEST: '1', PRINT_ENV: 'GREETING,UNSET_ONE', GREETING: 'yo' });
    await get(hello.port, '/healthz');
    await expect.poll(() => hello.lines.find((l) => l.msg === 'request')).toMatchObject({ path: '/healthz', status: 200 });
    expect(hello.lines.filter((l) => l.msg === 'env')).toEqual([
      expect.objectContaining({ env: { GREETING: 'yo', UNSET_ONE: null } }),
    ]);
  });

  it('waits START_DELAY_MS before listening', async () => {
    const startedAt = Date.now();
    await startHello({ START_DELAY_MS: '400' });
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(400);
  });

  it('on SIGTERM finishes an in-flight slow request, refuses new connections, closes idle ones and exits 0', async () => {
    const hello = await startHello({ LATENCY_MS: '1500' });
    // An idle keep-alive connection must not hold the exit up for keepAliveTimeout (65 s).
    const idleAgent = new http.Agent({ keepAlive: true });
    await get(hello.port, '/healthz', idleAgent);

    const slow = get(hello.port, '/');
    await new Promise((r) => setTimeout(r, 300)); // the request is now in flight
    const signalledAt = Date.now();
    hello.child.kill('SIGTERM');
    await expect.poll(() => hello.lines.some((l) => l.msg === 'draining')).toBe(true);

    await expect(get(hello.port, '/healthz')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(await slow).toMatchObject({ status: 200, body: { service: 'hello' } });
    const { code } = await hello.exited;
    expect(code).toBe(0);
    // The slow request ends ~1.2 s after the signal; a connection left open by the
    // service (idle, or the slow request's own keep-alive one) would add seconds.
    expect(Date.now() - signalledAt).toBeLessThan(4_000);
    expect(hello.lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['draining', 'stopped']));
    idleAgent.destroy();
  });
});
