// Instances as Docker containers, one per instance, through the Docker Engine API
// (dockerode; DOCKER_HOST honoured, else the default socket). Each container is
// labelled with its service, environment, release and instance id, and with the
// data directory of the server that started it, so a restarted server finds its
// own and no other server's. Its port is published on 127.0.0.1 only. Containers
// outlive the server, like processes do; their output is kept by the engine and
// copied into the instance's log file by this server (see container-log.ts).

import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { PassThrough, Readable } from 'node:stream';
import type Docker from 'dockerode';
import { SlipwayError } from '../../core/errors.ts';
import type { ImageRequest, InstanceHandle, ResourceUsage, Runtime, StartSpec, StopOptions } from '../../core/ports/runtime.ts';
import { followContainerLog, readCursor, type LogWriter } from './container-log.ts';
import { SECRETS_JSON_FILE, SECRETS_LOADER, hasShell, readBackSecrets, secretsArchive } from './container-secrets.ts';
import { isNotFound, isUnreachable, translateEngineError } from './engine-errors.ts';
import { hasReleaseImage, prepareReleaseImage, removeReleaseImage, type ImageRemoval } from './release-images.ts';
import { engineLogConfig } from './engine-log-config.ts';

const LABEL = {
  dataDir: 'slipway.data-dir',
  service: 'slipway.service',
  env: 'slipway.env',
  release: 'slipway.release',
  instance: 'slipway.instance',
  logPath: 'slipway.log-path',
  // Names only: on re-adoption the values are read back from the container's secrets file (or environment).
  secretVars: 'slipway.secret-vars',
  secretsFile: 'slipway.secrets-file',
} as const;

/** How stale a "which containers run" answer may be: the health monitor asks four times a second. */
const RUNNING_CACHE_MS = 200;
/** Every call but log streams and builds gives up after this; an engine that hangs must not hang the server. */
const API_TIMEOUT_MS = 20_000;
/** How often a log stream cut by the engine going away is tried again: doubling from the first, up to the last. */
const RESUME_FIRST_MS = 500;
const RESUME_MAX_MS = 5_000;

export interface DockerRuntimeOptions {
  /** The server's data directory: its containers are labelled with a digest of it. */
  dataDir: string;
  /** Masks secrets and appends to the log file (observe's log relay). Without one, an instance with secrets is refused. */
  writeLog?: LogWriter;
  onWarning?(message: string): void;
  /** A client to use instead of one from DOCKER_HOST (tests). */
  docker?: Docker;
}

export class DockerRuntime implements Runtime {
  readonly name = 'docker' as const;
  /**
   * The clients, made on first use: a server whose environments all run as
   * processes never loads dockerode (nor the gRPC stack it brings). `streams` has
   * no timeout: log streams stay open for a container's lifetime, builds take long.
   */
  private clients: Promise<{ api: Docker; streams: Docker }> | null = null;
  private readonly dataDirId: string;
  private readonly followers = new Map<string, { done: Promise<void>; stop(): void }>();
  /** Retries of log streams the engine cut while their containers ran on; cleared by close(). */
  private readonly resumeTimers = new Set<NodeJS.Timeout>();
  private closed = false;
  private running: { at: number; ids: Promise<Set<string>> } | null = null;

  constructor(private readonly opts: DockerRuntimeOptions) {
    this.dataDirId = createHash('sha256').update(opts.dataDir).digest('hex').slice(0, 16);
  }

  private connect(): Promise<{ api: Docker; streams: Docker }> {
    this.clients ??= import('dockerode').then(({ default: Dockerode }) => ({
      api: this.opts.docker ?? new Dockerode({ timeout: API_TIMEOUT_MS } as Docker.DockerOptions),
      streams: this.opts.docker ?? new Dockerode(),
    }));
    return this.clients;
  }

  private containerName(instanceId: string): string {
    return `slipway-${this.dataDirId.slice(0, 8)}-${instanceId}`;
  }

  async start(spec: StartSpec): Promise<InstanceHandle> {
    if (!spec.image) throw new SlipwayError('E_IMAGE_MISSING', `instance ${spec.instanceId} has no image recorded with its release; deploy again to build one`, { instance: spec.instanceId });
    if (!this.opts.writeLog && spec.redact.length > 0) {
      throw new SlipwayError('E_INSTANCE_FAILED', `instance ${spec.instanceId} has secrets, and this runtime has no log relay to keep them out of its log`);
    }
    const doing = `start instance ${spec.instanceId}`;
    const secretVars = Object.entries(spec.env).filter(([, v]) => spec.redact.includes(v)).map(([k]) => k);
    let container: Docker.Container | null = null;
    const { api } = await this.connect();
    // Made here with the server's owner and mode: left to Docker, a bind source that
    // does not exist yet would be made world-readable.
    if (spec.appDataDir !== undefined) mkdirSync(spec.appDataDir, { recursive: true, mode: 0o700 });
    try {
      container = secretVars.length > 0 ? await this.createWithSecretsFile(api, spec, secretVars) : await this.create(api, spec, { secretVars, secretsFile: false });
      await container.start();
      mkdirSync(dirname(spec.logPath), { recursive: true });
      await this.follow(container, { instanceId: spec.instanceId, logPath: spec.logPath, secrets: spec.redact, env: spec.owner.env, release: spec.owner.release });
      const info = await container.inspect();
      this.running = null;
      return { pid: info.State.Pid, procStart: null, ref: info.Id };
    } catch (e) {
      // A container that never ran is of no use to anyone: remove it, so its name is free again.
      if (container) await container.remove({ force: true }).catch(() => undefined);
      throw translateEngineError(e, doing, { instance: spec.instanceId });
    }
  }

  /**
   * A container whose secrets are in a file copied in before it starts, read by a
   * /bin/sh loader that then execs the image's entrypoint and command: `docker
   * inspect` shows neither the values nor their names' values. An image without
   * /bin/sh gets them as environment variables, with a warning.
   */
  private async createWithSecretsFile(api: Docker, spec: StartSpec, secretVars: string[]): Promise<Docker.Container> {
    const image = await api.getImage(spec.image!).inspect();
    const entrypoint = asArgv(image.Config.Entrypoint);
    const command = spec.argv.length ? spec.argv : asArgv(image.Config.Cmd);
    const container = await this.create(api, spec, {
      secretVars, secretsFile: true,
      entrypoint: ['/bin/sh', '-c', SECRETS_LOADER, 'slipway-secrets'], command: [...entrypoint, ...command],
    });
    try {
      if (await hasShell(container)) {
        const secrets = Object.fromEntries(secretVars.map((k) => [k, spec.env[k]!]));
        await container.putArchive(secretsArchive(secrets), { path: '/' });
        return container;
      }
    } catch (e) {
      await container.remove({ force: true }).catch(() => undefined);
      throw e;
    }
    await container.remove({ force: true });
    this.opts.onWarning?.(`the image of ${spec.owner.env} has no /bin/sh to load secrets from a file: instance ${spec.instanceId} gets ${secretVars.join(', ')} as environment variables, which \`docker inspect\` shows`);
    return this.create(api, spec, { secretVars, secretsFile: false });
  }

  private create(api: Docker, spec: StartSpec, o: { secretVars: string[]; secretsFile: boolean; entrypoint?: string[]; command?: string[] }): Promise<Docker.Container> {
    const port = `${spec.port}/tcp`;
    const hidden = new Set(o.secretsFile ? o.secretVars : []);
    return api.createContainer({
      name: this.containerName(spec.instanceId),
      Image: spec.image!,
      ...(o.entrypoint ? { Entrypoint: o.entrypoint, Cmd: o.command ?? [] }
        // As `docker run IMAGE COMMAND`: run.command replaces the image's CMD, its ENTRYPOINT stays.
        : spec.argv.length ? { Cmd: spec.argv } : {}),
      Env: Object.entries(spec.env).filter(([k]) => !hidden.has(k)).map(([k, v]) => `${k}=${v}`),
      Labels: {
        [LABEL.dataDir]: this.dataDirId, [LABEL.service]: spec.owner.service, [LABEL.env]: spec.owner.env,
        [LABEL.release]: String(spec.owner.release), [LABEL.instance]: spec.instanceId, [LABEL.logPath]: spec.logPath,
        [LABEL.secretVars]: o.secretVars.join(','),
        ...(o.secretsFile ? { [LABEL.secretsFile]: SECRETS_JSON_FILE } : {}),
      },
      // The same port inside as outside: PORT means one thing wherever it is read.
      ExposedPorts: { [port]: {} },
      HostConfig: {
        PortBindings: { [port]: [{ HostIp: '127.0.0.1', HostPort: String(spec.port) }] },
        // A small init as PID 1: forwards SIGTERM to the service and reaps its children.
        Init: true,
        // Bounded: the engine's copy of the output is only where slipway's own log reads it from.
        LogConfig: engineLogConfig(spec.logLimits),
        // The environment's data directory at the same path inside as outside: SLIPWAY_APP_DATA means one thing wherever it is read.
        ...(spec.appDataDir !== undefined ? { Binds: [`${spec.appDataDir}:${spec.appDataDir}`] } : {}),
        ...(spec.resources?.memoryBytes ? { Memory: spec.resources.memoryBytes, MemorySwap: spec.resources.memoryBytes } : {}),
        ...(spec.resources?.cpus ? { NanoCpus: Math.round(spec.resources.cpus * 1e9) } : {}),
      },
    });
  }

  /** Copies the container's log into the instance's log file, from where the last copy stopped. Idempotent. */
  private async follow(container: Docker.Container, o: FollowTarget): Promise<void> {
    if (this.followers.has(o.instanceId)) return;
    const { streams } = await this.connect();
    const cursorNs = readCursor(o.logPath);
    const since = cursorNs === null ? 0 : Number(cursorNs / 1_000_000_000n);
    const source = (await streams.getContainer(container.id).logs({ follow: true, stdout: true, stderr: true, timestamps: true, since })) as unknown as Readable;
    const write: LogWriter = this.opts.writeLog ?? (async () => {
      throw new Error('no log writer');
    });
    const follower = followContainerLog({
      source, logPath: o.logPath, secrets: o.secrets, cursorNs, write, tags: { env: o.env, release: o.release, instance: o.instanceId },
      demux: (s: Readable, out: PassThrough, err: PassThrough) => streams.modem.demuxStream(s as unknown as NodeJS.ReadableStream, out, err),
      lastWords: () => this.exitNote(container.id),
    });
    let stopped = false;
    this.followers.set(o.instanceId, { done: follower.done, stop: () => {
      stopped = true;
      follower.stop();
    } });
    void follower.done.then(
      () => {
        this.followers.delete(o.instanceId);
        if (!stopped) void this.afterStreamEnded(container.id, o, { lostTouch: false, waitMs: RESUME_FIRST_MS });
      },
      (e: Error) => {
        this.followers.delete(o.instanceId);
        this.opts.onWarning?.(`the log of ${o.instanceId} could not be copied: ${e.message}`);
      },
    );
  }

  /**
   * A log stream ends when its container exits, and also when the engine goes away
   * under it (dockerd restarted with live-restore, a dropped connection to a remote
   * engine) while the container runs on. Then the copy goes on from the cursor once
   * the engine answers again; a container that exited meanwhile gets its remaining
   * lines copied. Without this, `slipway logs` would show nothing more of a running
   * instance until the server restarted.
   */
  private async afterStreamEnded(containerId: string, o: FollowTarget, state: { lostTouch: boolean; waitMs: number }): Promise<void> {
    if (this.closed || this.followers.has(o.instanceId)) return;
    const { api } = await this.connect();
    let running: boolean;
    try {
      running = (await api.getContainer(containerId).inspect()).State.Running;
    } catch (e) {
      if (isNotFound(e)) return;
      // The engine is not answering (yet): ask again later.
      return this.askAgainLater(containerId, o, state.waitMs);
    }
    if (!running && !state.lostTouch) return; // it exited while its stream was open: all it said is copied
    if (this.closed) return;
    try {
      await this.follow(api.getContainer(containerId), o);
    } catch (e) {
      if (!isNotFound(e)) this.askAgainLater(containerId, o, state.waitMs);
    }
  }

  private askAgainLater(containerId: string, o: FollowTarget, waitMs: number): void {
    this.later(waitMs, () => this.afterStreamEnded(containerId, o, { lostTouch: true, waitMs: Math.min(waitMs * 2, RESUME_MAX_MS) }));
  }

  private later(waitMs: number, retry: () => Promise<void>): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.resumeTimers.delete(timer);
      retry().catch(() => undefined);
    }, waitMs).unref();
    this.resumeTimers.add(timer);
  }

  /**
   * What the engine knows of an exit that the container's own output cannot say:
   * the kernel's out-of-memory kill under `resources.memory` leaves no last words,
   * and would otherwise read as "exited unexpectedly" with nothing in the log.
   */
  private async exitNote(containerId: string): Promise<string | null> {
    const { api } = await this.connect();
    // The log stream may end a moment before the engine records the exit.
    for (let attempt = 0; attempt < 10; attempt++) {
      const { State: state, HostConfig: host } = await api.getContainer(containerId).inspect();
      if (state.Running) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      if (!state.OOMKilled) return null;
      const limit = host.Memory ? ` (resources.memory: ${Math.round(host.Memory / 1024 / 1024)} MiB)` : '';
      return `ERROR slipway: the container was killed by the kernel for using more memory than its limit${limit}; exit status ${state.ExitCode}`;
    }
    return null;
  }

  async adopt(handle: InstanceHandle, instance: { instanceId: string; logPath: string }, waitMs = RESUME_FIRST_MS): Promise<void> {
    if (this.closed || !handle.ref || this.followers.has(instance.instanceId)) return;
    const { api } = await this.connect();
    const container = api.getContainer(handle.ref);
    let info: Docker.ContainerInspectInfo;
    try {
      info = await container.inspect();
    } catch (e) {
      if (isNotFound(e)) return;
      // A server that starts while the engine is away copies its containers' logs once the engine is back.
      if (isUnreachable(e)) this.later(waitMs, () => this.adopt(handle, instance, Math.min(waitMs * 2, RESUME_MAX_MS)));
      throw translateEngineError(e, `re-adopt instance ${instance.instanceId}`);
    }
    // The values to mask, read back from the container (its secrets file, or its
    // environment for an image without a shell): they were never stored anywhere else.
    const names = new Set((info.Config.Labels?.[LABEL.secretVars] ?? '').split(',').filter(Boolean));
    const fromFile = info.Config.Labels?.[LABEL.secretsFile] ? await readBackSecrets(container).catch(() => null) : null;
    const secrets = fromFile
      ?? (info.Config.Env ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as const).filter(([k]) => names.has(k)).map(([, v]) => v);
    const labels = info.Config.Labels ?? {};
    const release = Number(labels[LABEL.release]);
    await this.follow(container, { instanceId: instance.instanceId, logPath: instance.logPath, secrets, env: labels[LABEL.env] ?? '', release: Number.isInteger(release) ? release : null });
  }

  private runningIds(): Promise<Set<string>> {
    const now = Date.now();
    if (this.running && now - this.running.at < RUNNING_CACHE_MS) return this.running.ids;
    const ids = this.connect()
      .then(({ api }) => api.listContainers({ filters: { label: [`${LABEL.dataDir}=${this.dataDirId}`], status: ['running'] } }))
      .then((list) => new Set(list.map((c) => c.Id)));
    this.running = { at: now, ids };
    // A failed answer is not kept: the next question asks again.
    ids.catch(() => {
      if (this.running?.ids === ids) this.running = null;
    });
    return ids.catch((e) => {
      throw translateEngineError(e, 'list the running containers');
    });
  }

  async isRunning(handle: InstanceHandle): Promise<boolean> {
    if (!handle.ref) return false;
    if ((await this.runningIds()).has(handle.ref)) return true;
    // A "no" is asked again of the container itself: the shared list may predate a container just started.
    const { api } = await this.connect();
    try {
      return (await api.getContainer(handle.ref).inspect()).State.Running;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw translateEngineError(e, `look at container ${handle.ref.slice(0, 12)}`);
    }
  }

  async findById(instanceId: string): Promise<InstanceHandle | null> {
    const { api } = await this.connect();
    let list: Docker.ContainerInfo[];
    try {
      list = await api.listContainers({ all: true, filters: { label: [`${LABEL.dataDir}=${this.dataDirId}`, `${LABEL.instance}=${instanceId}`] } });
    } catch (e) {
      throw translateEngineError(e, `look for instance ${instanceId}`);
    }
    for (const c of list) {
      if (c.State === 'running') {
        const info = await api.getContainer(c.Id).inspect();
        return { pid: info.State.Pid, procStart: null, ref: c.Id };
      }
      // Created but never started (the server died in between): it never ran, it goes.
      await api.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    }
    return null;
  }

  async usage(handle: InstanceHandle): Promise<ResourceUsage | null> {
    if (!handle.ref) return null;
    const { api } = await this.connect();
    try {
      // one-shot: the figures now, without waiting a second for a second sample.
      const s = await api.getContainer(handle.ref).stats({ stream: false, 'one-shot': true });
      const total = s.cpu_stats?.cpu_usage?.total_usage;
      if (typeof total !== 'number' || !s.memory_stats) return null;
      const m = s.memory_stats as { usage?: number; stats?: Record<string, number> };
      // cgroup v1 reports rss; v2 reports anon. Failing both, usage less the page cache.
      const rss = m.stats?.rss ?? m.stats?.anon ?? Math.max(0, (m.usage ?? 0) - (m.stats?.cache ?? m.stats?.inactive_file ?? 0));
      return { cpuSeconds: total / 1e9, rssBytes: rss };
    } catch {
      return null;
    }
  }

  async flushOutput(instanceId: string, timeoutMs: number): Promise<void> {
    const follower = this.followers.get(instanceId);
    if (!follower) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([follower.done.catch(() => undefined), new Promise<void>((r) => (timer = setTimeout(r, timeoutMs).unref()))]);
    clearTimeout(timer);
  }

  /**
   * `docker stop` with the kill timeout (SIGTERM, SIGKILL after it), then the
   * container's last output copied and the container removed. Safe to repeat.
   */
  async stop(handle: InstanceHandle, opts: StopOptions): Promise<{ killed: boolean }> {
    if (!handle.ref) return { killed: false };
    const { api, streams } = await this.connect();
    const container = api.getContainer(handle.ref);
    let info: Docker.ContainerInspectInfo;
    try {
      info = await container.inspect();
    } catch (e) {
      if (isNotFound(e)) return { killed: false };
      throw translateEngineError(e, `stop container ${handle.ref.slice(0, 12)}`);
    }
    const instanceId = info.Config.Labels?.[LABEL.instance] ?? '';
    let killed = false;
    if (info.State.Running) {
      try {
        await streams.getContainer(handle.ref).stop({ t: Math.max(1, Math.ceil(opts.killTimeoutMs / 1000)) });
      } catch (e) {
        if ((e as { statusCode?: number }).statusCode !== 304) throw translateEngineError(e, `stop instance ${instanceId}`);
      }
      const after = await container.inspect().catch(() => null);
      // 137 = 128 + SIGKILL: the stop timeout ran out (an out-of-memory kill says so instead).
      killed = after?.State.ExitCode === 137 && !after.State.OOMKilled;
    }
    this.running = null;
    await this.flushOutput(instanceId, 2000);
    await container.remove({ force: true }).catch((e: unknown) => {
      if (!isNotFound(e)) this.opts.onWarning?.(`container ${handle.ref!.slice(0, 12)} of ${instanceId} stopped but could not be removed: ${(e as Error).message}`);
    });
    return { killed };
  }

  /**
   * Containers labelled with this data directory whose instance has no live record
   * are removed. Only once this server has talked to the engine: a server whose
   * environments all run as processes never asks it anything.
   */
  async removeOrphans(isLive: (instanceId: string) => boolean): Promise<string[]> {
    if (!this.clients) return [];
    try {
      const { api } = await this.connect();
      const list = await api.listContainers({ all: true, filters: { label: [`${LABEL.dataDir}=${this.dataDirId}`] } });
      const removed: string[] = [];
      for (const c of list) {
        const instanceId = c.Labels?.[LABEL.instance] ?? '';
        if (isLive(instanceId)) continue;
        this.followers.get(instanceId)?.stop();
        await api.getContainer(c.Id).remove({ force: true }).then(() => removed.push(instanceId || c.Id.slice(0, 12)), (e: unknown) => {
          if (!isNotFound(e)) this.opts.onWarning?.(`orphaned container ${c.Id.slice(0, 12)} (${instanceId}) could not be removed: ${(e as Error).message}`);
        });
      }
      if (removed.length) this.running = null;
      return removed;
    } catch (e) {
      this.opts.onWarning?.(`could not look for orphaned containers: ${(e as Error).message}`);
      return [];
    }
  }

  async prepareImage(req: ImageRequest): Promise<string> {
    return prepareReleaseImage((await this.connect()).streams, { ...req, dataDirId: this.dataDirId });
  }

  async removeImage(imageId: string): Promise<ImageRemoval> {
    return removeReleaseImage((await this.connect()).api, { imageId, dataDirId: this.dataDirId });
  }

  async hasImage(imageId: string): Promise<boolean> {
    return hasReleaseImage((await this.connect()).api, imageId);
  }

  /** The server is going away (its containers stay): stop copying logs; the next server goes on from the cursors. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.resumeTimers) clearTimeout(t);
    this.resumeTimers.clear();
    const all = [...this.followers.values()];
    for (const f of all) f.stop();
    await Promise.all(all.map((f) => f.done.catch(() => undefined)));
  }
}

/** Whose log a stream is copied into, and what it masks. */
interface FollowTarget {
  instanceId: string;
  logPath: string;
  secrets: string[];
  env: string;
  release: number | null;
}

/** An image's Entrypoint or Cmd as an argv (the engine may answer null, a list, or, from old images, a string). */
function asArgv(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(String);
  if (typeof v === 'string' && v) return ['/bin/sh', '-c', v];
  return [];
}
