// End-to-end test support: real slipway servers (as child processes running the
// real CLI), scratch copies of the example service with their own ports, and the
// CLI run as a user would run it.

import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(REPO, 'bin', 'slipway.js');
export const EXAMPLE = join(REPO, 'examples', 'hello');

export { freePort } from '../../src/platform/test-ports.ts';

export function scratchDir(prefix = 'slipway-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface EnvOptions {
  instances: number;
  port: number;
  batch?: string | number;
  maxUnavailable?: string | number;
  config?: Record<string, string>;
  /** A whole `strategy:` block in YAML (indented by the harness); overrides batch/maxUnavailable. */
  strategyYaml?: string;
  /** More keys of the environment in YAML (e.g. `analysis:` or `watch:`), indented by the harness. */
  extraYaml?: string;
}

export interface ServiceOptions {
  /** service: of slipway.yaml (default hello). */
  service?: string;
  version?: string;
  envs: Record<string, EnvOptions>;
  health?: { interval?: string; healthyThreshold?: number; unhealthyThreshold?: number; startDeadline?: string };
  drainTimeout?: string;
  killTimeout?: string;
}

/** Writes slipway.yaml (and the package version) of a service directory copied from the example. */
export function writeService(dir: string, o: ServiceOptions): void {
  if (!existsSync(join(dir, 'server.js'))) cpSync(EXAMPLE, dir, { recursive: true });
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ ...pkg, version: o.version ?? '1.0.0' }, null, 2));
  const h = o.health ?? {};
  const lines = [
    `service: ${o.service ?? 'hello'}`,
    'run:',
    '  command: node server.js',
    'health:',
    '  path: /healthz',
    `  interval: ${h.interval ?? '200ms'}`,
    '  timeout: 1s',
    `  healthy_threshold: ${h.healthyThreshold ?? 2}`,
    `  unhealthy_threshold: ${h.unhealthyThreshold ?? 3}`,
    `  start_deadline: ${h.startDeadline ?? '10s'}`,
    'shutdown:',
    `  drain_timeout: ${o.drainTimeout ?? '5s'}`,
    `  kill_timeout: ${o.killTimeout ?? '3s'}`,
    'environments:',
  ];
  for (const [name, e] of Object.entries(o.envs)) {
    lines.push(`  ${name}:`, `    instances: ${e.instances}`, `    listen: 127.0.0.1:${e.port}`);
    if (e.strategyYaml) lines.push('    strategy:', ...e.strategyYaml.trim().split('\n').map((l) => `      ${l}`));
    else lines.push(`    strategy: { type: rolling, batch: ${e.batch ?? 1}, max_unavailable: ${e.maxUnavailable ?? 0} }`);
    if (e.extraYaml) lines.push(...e.extraYaml.trim().split('\n').map((l) => `    ${l}`));
    const cfg = Object.entries(e.config ?? {});
    if (cfg.length) {
      lines.push('    config:');
      for (const [k, v] of cfg) lines.push(`      ${k}: ${JSON.stringify(v)}`);
    }
  }
  writeFileSync(join(dir, 'slipway.yaml'), `${lines.join('\n')}\n`);
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `input`: written to the CLI's stdin, which is then closed (stdin is a pipe, never a terminal). */
/** `env`: extra variables for the CLI, e.g. SLIPWAY_TOKEN to act as another user. */
/** `bin`: another slipway's CLI (an older release's, say). */
export function runCli(args: string[], opts: { cwd: string; dataDir: string; timeoutMs?: number; input?: string; env?: Record<string, string>; bin?: string }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [opts.bin ?? BIN, '--data-dir', opts.dataDir, ...args], { cwd: opts.cwd, env: { ...process.env, NO_COLOR: '1', SLIPWAY_SERVER: '', ...opts.env } });
    child.stdin.end(opts.input ?? '');
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`slipway ${args.join(' ')} timed out\n${stdout}\n${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  pid: number;
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `env`: the server's whole environment (default: this process's), e.g. with SLIPWAY_MASTER_KEY or VAULT_ADDR.
 * `listen`: the API's address (default a free loopback port; a fixed one lets a restart ask for the same).
 */
export async function startServerProcess(dataDir: string, logName = 'server.log', env: NodeJS.ProcessEnv = process.env, listen = '127.0.0.1:0', bin = BIN): Promise<ServerProcess> {
  const logFile = join(dataDir, '..', logName);
  const fd = openSync(logFile, 'a');
  rmSync(join(dataDir, 'server.json'), { force: true });
  const child = spawn(process.execPath, [bin, '--data-dir', dataDir, 'server', '--listen', listen], { stdio: ['ignore', fd, fd], env });
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited ${child.exitCode}: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
    const file = join(dataDir, 'server.json');
    if (existsSync(file)) {
      const info = JSON.parse(readFileSync(file, 'utf8')) as { url: string; pid: number };
      if (info.pid === child.pid) {
        const token = adminToken(dataDir);
        if (token) registerApiToken(info.url, token);
        const exited = new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));
        return {
          child, url: info.url, pid: child.pid!,
          kill9: async () => {
            child.kill('SIGKILL');
            await exited;
          },
          stop: async () => {
            child.kill('SIGTERM');
            await exited;
          },
        };
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error('server did not start in 60s (see the server log)');
}

/** Everything an end-to-end test starts, stopped at the end, instances and router included. */
export async function shutdownEverything(url: string | null, dataDir: string): Promise<void> {
  if (url) {
    await apiFetch(`${url}/api/shutdown`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ stopInstances: true, stopRouter: true }) }).catch(() => undefined);
    // Up to 30 s: a server stops its instances (drains, kill timeouts) before its router.
    // Killed sooner, its router would be found dead mid-shutdown and started again.
    for (let i = 0; i < 300 && existsSync(join(dataDir, 'server.json')); i++) await new Promise((r) => setTimeout(r, 100));
  }
  killLeftovers(dataDir);
}

/** Belt and braces: any process still running from this data directory is killed. */
export function killLeftovers(dataDir: string): void {
  const routerJson = join(dataDir, 'router', 'router.json');
  const pids: number[] = [];
  if (existsSync(routerJson)) pids.push((JSON.parse(readFileSync(routerJson, 'utf8')) as { pid: number }).pid);
  for (const i of liveInstanceRows(dataDir)) if (i.pid) pids.push(-i.pid);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

// The API token each test server answers to, by origin (set when the server starts).
const apiTokens = new Map<string, string>();

/** The admin token a server made on its first start in dataDir (null before). */
export function adminToken(dataDir: string): string | null {
  const file = join(dataDir, 'admin.token');
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : null;
}

export function registerApiToken(url: string, token: string): void {
  apiTokens.set(new URL(url).origin, token);
}

/** fetch() against a slipway server, carrying the admin token it was started with. Use it for every raw API call. */
export function apiFetch(url: string, init: RequestInit = {}): Promise<Response> {
  const token = apiTokens.get(new URL(url).origin);
  const headers = new Headers(init.headers);
  if (token && !headers.has('authorization')) headers.set('authorization', `Bearer ${token}`);
  return fetch(url, { ...init, headers });
}

export async function getJson<T>(url: string): Promise<T> {
  const r = await apiFetch(url);
  return (await r.json()) as T;
}

export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export interface InstanceRow {
  id: string;
  env: string;
  state: string;
  pid: number | null;
  port: number;
}

/** Reads state.db directly (read-only) to check what the server recorded. */
export function liveInstanceRows(dataDir: string): InstanceRow[] {
  const file = join(dataDir, 'state.db');
  if (!existsSync(file)) return [];
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare("SELECT id, env, state, pid, port FROM instances WHERE state IN ('starting','ready','draining','stopping')").all() as InstanceRow[];
  } finally {
    db.close();
  }
}

export function isPidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Pids of processes whose working directory is a release directory of this data directory. */
export function processesInReleases(dataDir: string): number[] {
  const prefix = join(dataDir, 'releases');
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readlinkSync(`/proc/${e}/cwd`).startsWith(prefix) && isPidAlive(Number(e))) pids.push(Number(e));
    } catch {
      // gone
    }
  }
  return pids;
}
