// Starting an instance until it is healthy, and draining then stopping one.
// Every state change is written to the store before the action it announces, so a
// restarted server knows which instances may be running and what they were doing.

import { envNameOf, envSlug } from '../core/env-key.ts';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { effectiveConfig, type InstanceRecord, type ReleaseRecord } from '../core/records.ts';
import type { StateStore } from '../store/state-store.ts';
import { probeHealth } from './health-probe.ts';
import type { InstanceHandle, Runtime } from '../core/ports/runtime.ts';
import type { Clock } from './ports.ts';
import { parseLogLine } from '../observe/log-records.ts';
import { DEFAULT_LOG_LIMITS } from '../observe/rotating-log-file.ts';
import { runtimeNamed, type RuntimeSet } from './runtime-set.ts';
import { expandPortReferences } from '../core/port-references.ts';

export interface LifecycleDeps {
  store: StateStore;
  runtimes: RuntimeSet;
  clock: Clock;
  logsDir: string;
  /** The directory an environment keeps across releases (SLIPWAY_APP_DATA); absent: instances get none. */
  appDataDirOf?(release: ReleaseRecord): string;
  /** When this server started watching instances. */
  watchingSince: number;
  /** The values of a release's secrets (fetched, decrypted) for a new instance of it. */
  resolveSecrets(release: ReleaseRecord): Promise<Record<string, string>>;
}

export function handleOf(i: InstanceRecord): InstanceHandle | null {
  if (i.pid === null && i.runtimeRef === null) return null;
  return { pid: i.pid ?? 0, procStart: i.procStart, ref: i.runtimeRef };
}

/** The runtime that runs an instance (recorded when it started). */
export function runtimeOf(deps: { runtimes: RuntimeSet }, i: InstanceRecord): Runtime {
  return runtimeNamed(deps.runtimes, i.runtime);
}

export async function freePort(avoid: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const addr = srv.address();
        srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
      });
    });
    if (port && !avoid.has(port)) return port;
  }
  throw new Error('no free port on 127.0.0.1');
}

/** Secrets are the release's own environment's only: nothing of another environment is ever resolved here. */
function instanceEnv(runtime: Runtime, release: ReleaseRecord, instance: { id: string; port: number; dataDir: string | null }, secrets: Record<string, string>): Record<string, string> {
  // What the runtime gives every instance (a local process: the server's PATH and locale; a container: nothing, its image has them).
  const env: Record<string, string> = { ...runtime.baseEnv?.() };
  Object.assign(env, effectiveConfig(release.config), secrets);
  env[release.config.run.portEnv] = String(instance.port);
  env.SLIPWAY_SERVICE = release.service;
  env.SLIPWAY_ENV = envNameOf(release.env);
  env.SLIPWAY_RELEASE = String(release.number);
  env.SLIPWAY_INSTANCE = instance.id;
  if (instance.dataDir !== null) env.SLIPWAY_APP_DATA = instance.dataDir;
  return env;
}

/** Records a new instance and starts its process. The row exists before the process does. */
export async function launchInstance(deps: LifecycleDeps, release: ReleaseRecord): Promise<InstanceRecord> {
  const used = new Set(deps.store.liveInstances().map((i) => i.port));
  const port = await freePort(used);
  const id = `${envSlug(release.env)}-${release.number}-${randomBytes(3).toString('hex')}`;
  const logPath = join(deps.logsDir, envSlug(release.env), `${id}.log`);
  const runtime = runtimeNamed(deps.runtimes, release.config.environment.runtime);
  const record: InstanceRecord = {
    id, env: release.env, releaseId: release.id, runtime: runtime.name, runtimeRef: null, port, pid: null, procStart: null, state: 'starting',
    logPath, lastError: null, createdAt: deps.clock.now(), readyAt: null, stoppedAt: null,
  };
  deps.store.insertInstance(record);
  try {
    // Fetched for each start, never stored: a wrong key or an unreachable Vault fails the start, loudly.
    const secrets = await deps.resolveSecrets(release);
    const dataDir = deps.appDataDirOf?.(release) ?? null;
    const handle = await runtime.start({
      // release.dir is releases/<env>/<digest>: its parent is the environment's own directory.
      instanceId: id, releaseDir: release.dir, envDir: dirname(release.dir), user: release.config.run.user, argv: expandPortReferences(release.config.run.argv, { portEnv: release.config.run.portEnv, port }),
      env: instanceEnv(runtime, release, { ...record, dataDir }, secrets), port, logPath, ...(dataDir !== null ? { appDataDir: dataDir } : {}), redact: Object.values(secrets),
      logTags: { env: release.env, release: release.number }, logLimits: release.config.logs ?? DEFAULT_LOG_LIMITS,
      owner: { service: release.service, env: release.env, release: release.number },
      image: release.imageId,
      resources: runtime.limitsOf ? runtime.limitsOf({ resources: release.config.environment.resources, runMemoryBytes: release.config.run.memoryBytes ?? null }) : release.config.environment.resources,
    });
    deps.store.updateInstance(id, { pid: handle.pid, procStart: handle.procStart, runtimeRef: handle.ref });
    return { ...record, pid: handle.pid, procStart: handle.procStart, runtimeRef: handle.ref };
  } catch (e) {
    deps.store.updateInstance(id, { state: 'failed', lastError: (e as Error).message, stoppedAt: deps.clock.now() });
    throw e;
  }
}

export type ReadyOutcome = { ready: true } | { ready: false; reason: string };

/**
 * Probes until `healthy_threshold` consecutive successes, the process exits, or the
 * start deadline passes. The deadline counts from the instance's start, or from the
 * moment this server began watching it if later: an instance is judged only on time
 * a server could observe it, not on time the server spent dead.
 */
export async function waitUntilHealthy(deps: LifecycleDeps, instance: InstanceRecord, release: ReleaseRecord, isCancelled: () => boolean = () => false): Promise<ReadyOutcome> {
  const h = release.config.health;
  const deadline = Math.max(instance.createdAt, deps.watchingSince) + h.startDeadlineMs;
  const handle = handleOf(instance);
  const runtime = runtimeOf(deps, instance);
  let streak = 0;
  let lastError = 'no probe answered yet';
  let everHealthy = false;
  while (!isCancelled()) {
    if (!handle || !(await runtime.isRunning(handle))) {
      await runtime.flushOutput(instance.id, 2000); // its last words are what explains the exit
      return { ready: false, reason: `instance ${instance.id} exited before it became healthy${lastLogLines(instance.logPath)}` };
    }
    const probe = await probeHealth({ port: instance.port, path: h.path, timeoutMs: h.timeoutMs });
    if (probe.ok) {
      streak++;
      everHealthy = true;
      if (streak >= h.healthyThreshold) return { ready: true };
    } else {
      streak = 0;
      lastError = probe.error ?? `status ${probe.status}`;
    }
    if (deps.clock.now() > deadline) {
      const last = probe.ok ? `${streak} of ${h.healthyThreshold} probes in a row passed${everHealthy && lastError !== 'no probe answered yet' ? `; an earlier one failed: ${lastError}` : ''}` : `last probe: ${lastError}`;
      const elsewhere = release.config.environment.runtime === 'process' && /^nothing listens on port /.test(lastError) ? portSaid(instance.logPath, instance.port) : null;
      const hint = elsewhere === null ? '' : `\n    (it says it listens on ${elsewhere}, not on ${instance.port}: a service must listen on the port slipway gives it in $${release.config.run.portEnv})`;
      return { ready: false, reason: `instance ${instance.id} was not healthy within ${h.startDeadlineMs}ms (${last})${lastLogLines(instance.logPath)}${hint}` };
    }
    // Probe faster than the steady-state interval while starting: readiness gates the rollout.
    await deps.clock.sleep(Math.min(h.intervalMs, 200));
  }
  return { ready: false, reason: 'cancelled' };
}

/** A line that states an error, as runtimes print them: `Error: ...`, `TypeError: ...`, Python's `Traceback`, Go's `panic:`. */
const ERROR_LINE = /^\s*(?:[A-Z][A-Za-z]*(?:Error|Exception)\b|Error\b|Traceback \(most recent call last\)|panic:|fatal(?: error)?:|FATAL\b)/;

/**
 * What an instance said before it died, for the reason a rollout gives: the last
 * `n` lines, and before them the first line that states an error when the tail
 * does not hold it (Node ends an uncaught error with its stack, the error's fields
 * and its version, so the last lines alone never said "Cannot find module
 * 'express'"). A module missing from the release gets what to do about it.
 */
export function lastLogLines(logPath: string, n = 5): string {
  try {
    if (!existsSync(logPath)) return '';
    const text = readTail(logPath, 64 * 1024);
    const tags = { env: '', release: null, instance: '' };
    const all = text.trimEnd().split('\n').slice(-60).filter((l) => l.length > 0).map((l) => parseLogLine(l, tags).msg).filter((l) => l.trim().length > 0);
    const tail = all.slice(-n);
    const errorAt = all.findIndex((l) => ERROR_LINE.test(l));
    const shown = errorAt >= 0 && errorAt < all.length - n ? [all[errorAt]!, '…', ...tail] : tail;
    if (shown.length === 0) return '';
    const missing = all.map((l) => /Cannot find (?:module|package) '([^']+)'/.exec(l)?.[1]).find((m) => m !== undefined && !m.startsWith('.') && !m.startsWith('/'));
    const hint = missing
      ? `\n    (the release has no node_modules/${missing.split('/').slice(0, missing.startsWith('@') ? 2 : 1).join('/')}: slipway packs the service directory as it is, so run \`npm ci\` there, or \`npm ci --omit=dev\`, before \`slipway deploy\`)`
      : '';
    return `; last log lines:\n    ${shown.map((l) => l.slice(0, 300)).join('\n    ')}${hint}`;
  } catch {
    return '';
  }
}

/**
 * The port an instance's own log says it listens on ("listening on 3000",
 * "http://localhost:8080"), when that is not the one it was given: a service that
 * ignores $PORT (a hard-coded `listen(3000)`) otherwise fails with only "nothing
 * listens on port N" beside its own word that it listens.
 */
function portSaid(logPath: string, given: number): number | null {
  try {
    if (!existsSync(logPath)) return null;
    const text = readTail(logPath, 16 * 1024);
    const said = /\blisten(?:ing|s)?\b[^\n\d]{0,40}?(\d{2,5})\b|\bport\s*[:=]?\s*(\d{2,5})\b|\bhttps?:\/\/(?:localhost|127\.0\.0\.1|0\.0\.0\.0|\[::\]):(\d{2,5})\b/gi;
    for (const m of text.matchAll(said)) {
      const port = Number(m[1] ?? m[2] ?? m[3]);
      if (port >= 1 && port <= 65535 && port !== given) return port;
    }
    return null;
  } catch {
    return null;
  }
}

/** The last `bytes` of a file, from a line start: an instance's log can be large. */
function readTail(path: string, bytes: number): string {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(0, size - bytes);
    const buf = Buffer.alloc(size - start);
    readSync(fd, buf, 0, buf.length, start);
    const text = buf.toString('utf8');
    return start === 0 ? text : text.slice(text.indexOf('\n') + 1);
  } finally {
    closeSync(fd);
  }
}

/** Stops the process of an instance that no longer receives traffic. Safe to repeat. */
export async function stopInstanceProcess(deps: LifecycleDeps, instance: InstanceRecord, killTimeoutMs: number): Promise<void> {
  const handle = handleOf(instance);
  if (handle) {
    const { killed } = await runtimeOf(deps, instance).stop(handle, { killTimeoutMs, instanceId: instance.id });
    if (killed) deps.store.updateInstance(instance.id, { lastError: `did not exit within ${killTimeoutMs}ms of SIGTERM; killed` });
  }
}
