// The server's handle on the router process: find the running router (or start one,
// detached, so it outlives the server) and talk to its admin API with the admin
// secret (admin-secret.ts). Every failure to reach the router is an
// E_ROUTER_UNAVAILABLE that says what to do.

import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { request } from 'undici';
import { SlipwayError, errorMessage } from '../core/errors.ts';
import { routerProgram, type RouterProgram } from './router-code.ts';
import { ROUTER_SECRET_ENV, newAdminSecret, prepareStateDir, readAdminSecret, writeAdminSecret } from './admin-secret.ts';
import type { InflightAnswer, UpgradeAnswer } from './admin-server.ts';
import type { ListenerStatus } from './address-listener.ts';
import type { RouteTable, RouterHeadAnswer } from './route-table.ts';
import type { RouterStatsJson } from './router-stats.ts';

export type { ListenerStatus } from './address-listener.ts';
export type { BackendStatsJson, ReleaseStatsJson, RouterStatsJson, StatusClass } from './router-stats.ts';

export interface EnsureRouterOptions {
  /** Holds router.json, routes.json, admin.secret and (by default) router.log; made 0700. */
  stateDir: string;
  /** Where the router's stdout/stderr go; default `stateDir/router.log`. */
  logFile?: string;
  /** Admin port on 127.0.0.1 for a newly started router; default 0 (any free port). */
  adminPort?: number;
  /** How long to wait for a new router (its keeper and workers) to answer; default 20 s. */
  startTimeoutMs?: number;
  /** Worker processes of a newly started router (its --workers); default the router's own (2). A running router adopted with another count is changed by RouterSupervisor. */
  workers?: number;
}

export interface PutRoutesAnswer {
  version: number;
  listeners: Record<string, ListenerStatus>;
}

export interface RouterStatus {
  pid: number;
  startedAt: string;
  ready: boolean;
  version: number;
  /** routeTableDigest of the table the router runs. */
  digest: string;
  listeners: Record<string, ListenerStatus>;
  /** Set when routes.json could not be restored at start. */
  restoreError?: string;
  /** routerCodeDigest() of the code its workers run; absent in a router from before workers. */
  code?: string;
  /** How many workers serve; absent in a router from before the count could change. */
  workers?: number;
}

export interface DrainResult {
  drained: boolean;
  /** Requests in flight and upgraded connections still open when it returned. */
  inflight: number;
  /** Of `inflight`, the upgraded connections (WebSockets); the router closes them at the deadline. */
  upgraded: number;
}

interface RouterInfo {
  pid: number;
  adminUrl: string;
  startedAt: string;
}

/** Connects to the router recorded in `stateDir/router.json` if it is alive and healthy, else starts a new one. */
export async function ensureRouter(options: EnsureRouterOptions): Promise<RouterClient> {
  const stateDir = resolve(options.stateDir);
  await prepareStateDir(stateDir);
  const logFile = options.logFile ?? join(stateDir, 'router.log');
  const running = await findRunningRouter(stateDir, logFile);
  if (running !== null) return running;
  // A new secret for each router: one a previous router had (or leaked) steers nothing.
  const secret = newAdminSecret();
  await writeAdminSecret(stateDir, secret);
  const pid = spawnRouter({ stateDir, logFile, adminPort: options.adminPort ?? 0, secret, workers: options.workers });
  return waitForRouter({ stateDir, logFile, pid, secret, timeoutMs: options.startTimeoutMs ?? 20_000 });
}

async function readRouterInfo(stateDir: string): Promise<RouterInfo | null> {
  try {
    const info = JSON.parse(await readFile(join(stateDir, 'router.json'), 'utf8')) as Partial<RouterInfo>;
    if (typeof info.pid !== 'number' || typeof info.adminUrl !== 'string') return null;
    return { pid: info.pid, adminUrl: info.adminUrl, startedAt: String(info.startedAt ?? '') };
  } catch {
    return null;
  }
}

async function findRunningRouter(stateDir: string, logFile: string): Promise<RouterClient | null> {
  const info = await readRouterInfo(stateDir);
  if (info === null || !isPidAlive(info.pid)) return null;
  const secret = await readAdminSecret(stateDir);
  if (secret !== null) {
    const client = new RouterClient({ pid: info.pid, adminUrl: info.adminUrl, secret, logFile });
    // A busy router may miss one probe; a hung one misses them all.
    for (let attempt = 0; attempt < 3; attempt++) {
      if (await client.isHealthy()) {
        if (await client.acceptsSecret()) return client;
        break;
      }
      await sleep(300);
    }
  }
  // Alive but not answering, or not to the secret in admin.secret (lost or replaced):
  // it still holds the environments' ports, so a new router could not listen. Stop it,
  // but only if that pid really is a slipway router.
  if (isRouterProcess(info.pid)) {
    killGroup(info.pid);
    await waitForExit(info.pid, 2_000);
  }
  return null;
}

function spawnRouter(o: { stateDir: string; logFile: string; adminPort: number; secret: string; workers?: number }): number {
  const { stateDir, logFile, adminPort } = o;
  const program = routerProgram();
  const logFd = openSync(logFile, 'a');
  try {
    const workers = o.workers === undefined ? [] : ['--workers', String(o.workers)];
    const child = spawn(process.execPath, [...program.execArgv, program.entry, '--state-dir', stateDir, '--admin-port', String(adminPort), ...workers], {
      detached: true, // its own process group: a signal to the server's group does not reach it
      stdio: ['ignore', logFd, logFd],
      cwd: stateDir,
      // The environment, not the argument vector: /proc/<pid>/environ is readable by this user alone.
      env: { ...process.env, [ROUTER_SECRET_ENV]: o.secret },
    });
    child.on('error', () => {}); // reported by waitForRouter as "exited before answering"
    child.unref();
    if (child.pid === undefined) throw new SlipwayError('E_ROUTER_UNAVAILABLE', `cannot start the router (${[...program.execArgv, program.entry].join(' ')}); see ${logFile}`);
    return child.pid;
  } finally {
    closeSync(logFd);
  }
}

async function waitForRouter(o: { stateDir: string; logFile: string; pid: number; secret: string; timeoutMs: number }): Promise<RouterClient> {
  const deadline = Date.now() + o.timeoutMs;
  while (Date.now() < deadline) {
    if (!isPidAlive(o.pid)) {
      throw new SlipwayError('E_ROUTER_UNAVAILABLE', `the router exited while starting; see ${o.logFile}:\n${logTail(o.logFile)}`, { pid: o.pid });
    }
    const info = await readRouterInfo(o.stateDir);
    if (info?.pid === o.pid) {
      const client = new RouterClient({ pid: info.pid, adminUrl: info.adminUrl, secret: o.secret, logFile: o.logFile });
      if (await client.isHealthy()) return client;
    }
    await sleep(50);
  }
  killGroup(o.pid);
  throw new SlipwayError('E_ROUTER_UNAVAILABLE', `the router did not answer within ${o.timeoutMs} ms of starting; it was stopped. See ${o.logFile}:\n${logTail(o.logFile)}`, { pid: o.pid });
}

export class RouterClient {
  readonly pid: number;
  readonly adminUrl: string;
  private readonly secret: string;
  private readonly logFile: string;

  constructor(o: { pid: number; adminUrl: string; secret: string; logFile?: string }) {
    this.pid = o.pid;
    this.adminUrl = o.adminUrl;
    this.secret = o.secret;
    this.logFile = o.logFile ?? 'the router log';
  }

  /** Persists and applies a table. A stale version or a bad table is an E_BAD_REQUEST (status 409 / 400 in details). */
  putRoutes(table: RouteTable): Promise<PutRoutesAnswer> {
    return this.call<PutRoutesAnswer>('PUT', '/routes', { body: table, timeoutMs: 15_000 });
  }

  getRoutes(): Promise<RouteTable> {
    return this.call<RouteTable>('GET', '/routes');
  }

  /** The version and digest of the table the router runs (cheap: no table crosses the wire). */
  getRouteHead(): Promise<RouterHeadAnswer> {
    return this.call<RouterHeadAnswer>('GET', '/routes/head', { timeoutMs: 2_000 });
  }

  getStats(): Promise<RouterStatsJson> {
    return this.call<RouterStatsJson>('GET', '/stats');
  }

  getStatus(): Promise<RouterStatus> {
    return this.call<RouterStatus>('GET', '/status');
  }

  /** Requests in flight to a backend plus its upgraded connections. */
  async inflight(backendId: string): Promise<number> {
    return (await this.inflightOf(backendId)).inflight;
  }

  private inflightOf(backendId: string): Promise<InflightAnswer> {
    return this.call<InflightAnswer>('GET', `/inflight/${encodeURIComponent(backendId)}`);
  }

  /**
   * Tells the router the backend's drain deadline (its upgraded connections are closed
   * there), then polls its requests and upgraded connections until none is left or
   * `timeoutMs` passed. Call after removing it from the table.
   */
  async waitDrained(backendId: string, timeoutMs: number): Promise<DrainResult> {
    const deadline = Date.now() + timeoutMs;
    let answer = await this.startDrain(backendId, timeoutMs);
    let busy: { inflight: number; upgraded: number } | null = null;
    for (;;) {
      const result = { inflight: answer.inflight, upgraded: answer.upgraded ?? 0 };
      // An answer of 0 that comes after the deadline may be the router's own cut at
      // its deadline, not a drain: what was still open before it is reported.
      if (answer.inflight === 0) return busy !== null && Date.now() >= deadline ? { drained: false, ...busy } : { drained: true, ...result };
      busy = result;
      if (Date.now() >= deadline) return { drained: false, ...result };
      await sleep(Math.min(50, Math.max(1, deadline - Date.now())));
      answer = await this.inflightOf(backendId);
    }
  }

  /** A router from before upgraded connections were counted has no /drain: it is polled as before. */
  private async startDrain(backendId: string, timeoutMs: number): Promise<InflightAnswer> {
    try {
      return await this.call<InflightAnswer>('POST', `/drain/${encodeURIComponent(backendId)}`, { body: { timeoutMs: Math.min(86_400_000, Math.max(0, Math.round(timeoutMs))) } });
    } catch (e) {
      if (e instanceof SlipwayError && e.details['status'] === 404) return this.inflightOf(backendId);
      throw e;
    }
  }

  /**
   * Has the router replace its workers with ones running `program` (by default the
   * router this process would start now): the new ones
   * take the listening sockets over before the old ones stop accepting; the old ones
   * finish their requests and keep their WebSockets up to `drainMs`.
   */
  upgradeWorkers(drainMs: number, program: RouterProgram = routerProgram(), workers?: number): Promise<UpgradeAnswer> {
    return this.call<UpgradeAnswer>('POST', '/upgrade', { body: { timeoutMs: Math.round(drainMs), program, ...(workers === undefined ? {} : { workers }) }, timeoutMs: 60_000 });
  }

  async isHealthy(): Promise<boolean> {
    try {
      const answer = await this.call<{ ok?: boolean; pid?: number }>('GET', '/healthz', { timeoutMs: 1_000 });
      // A different pid on that port means router.json is stale and the port was reused.
      return answer.ok === true && answer.pid === this.pid;
    } catch {
      return false;
    }
  }

  /** Whether the router answers a request that needs the admin secret (false: it was started with another). */
  async acceptsSecret(): Promise<boolean> {
    try {
      await this.getStatus();
      return true;
    } catch {
      return false;
    }
  }

  /** Asks the router to stop (listeners close gracefully) and waits up to `timeoutMs` for its process to exit. */
  async shutdown(timeoutMs = 15_000): Promise<void> {
    try {
      await this.call('POST', '/shutdown', { body: {} });
    } catch (e) {
      if (!isPidAlive(this.pid)) return;
      throw e;
    }
    const deadline = Date.now() + timeoutMs;
    while (isPidAlive(this.pid)) {
      if (Date.now() >= deadline) {
        throw new SlipwayError('E_ROUTER_UNAVAILABLE', `the router (pid ${this.pid}) did not exit within ${timeoutMs} ms of /shutdown; kill it with \`kill ${this.pid}\``);
      }
      await sleep(25);
    }
  }

  private async call<T>(method: 'GET' | 'PUT' | 'POST', path: string, o: { body?: unknown; timeoutMs?: number } = {}): Promise<T> {
    const timeoutMs = o.timeoutMs ?? 5_000;
    let status: number;
    let text: string;
    try {
      const res = await request(this.adminUrl + path, {
        method,
        headers: { authorization: `Bearer ${this.secret}`, ...(o.body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: o.body === undefined ? null : JSON.stringify(o.body),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      status = res.statusCode;
      text = await res.body.text();
    } catch (e) {
      throw new SlipwayError(
        'E_ROUTER_UNAVAILABLE',
        `the router at ${this.adminUrl} (pid ${this.pid}) did not answer ${method} ${path}: ${errorMessage(e)}; restart slipway (it starts a router when none answers) and see ${this.logFile}`,
        { pid: this.pid, adminUrl: this.adminUrl },
        { cause: e },
      );
    }
    return parseAnswer<T>({ status, text, what: `${method} ${path}`, adminUrl: this.adminUrl });
  }
}

function parseAnswer<T>(a: { status: number; text: string; what: string; adminUrl: string }): T {
  let body: unknown;
  try {
    body = JSON.parse(a.text) as unknown;
  } catch {
    throw new SlipwayError('E_ROUTER_UNAVAILABLE', `the router at ${a.adminUrl} answered ${a.what} with non-JSON (status ${a.status}); is something else listening there?`);
  }
  if (a.status >= 200 && a.status < 300) return body as T;
  const err = (body as { error?: { code?: string; message?: string } }).error ?? {};
  const message = err.message ?? `status ${a.status}`;
  if (a.status === 400 || a.status === 409) {
    throw new SlipwayError('E_BAD_REQUEST', `the router refused ${a.what}: ${message}`, { status: a.status, ...(err as object) });
  }
  if (a.status === 401 || a.status === 403) {
    // Unavailable to us: the supervisor then finds (or starts) a router that takes our secret.
    throw new SlipwayError('E_ROUTER_UNAVAILABLE', `the router at ${a.adminUrl} refused ${a.what} (status ${a.status}): ${message}; it was started with another admin secret than the one in its state dir`, { status: a.status });
  }
  throw new SlipwayError('E_ROUTER_UNAVAILABLE', `the router failed ${a.what} (status ${a.status}): ${message}`, { status: a.status });
}

function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether a pid is a slipway router (Linux /proc); false when unknown, so we never kill a stranger. */
function isRouterProcess(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('router-main');
  } catch {
    return false;
  }
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

function logTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (isPidAlive(pid) && Date.now() < deadline) await sleep(25);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
