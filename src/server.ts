// The slipway server: the only place where concrete drivers are chosen and wired.
// It holds the data directory's lock, claims its API address, adopts the router and
// the instances a previous server left running, resumes rollouts, and serves the
// HTTP API.

import { envNameOf } from './core/env-key.ts';
import { readFileSync, rmSync, statfsSync } from 'node:fs';
import { writeFileAtomicSync } from './platform/atomic-file.ts';
import { registerServer, runningServers } from './store/server-register.ts';
import type { Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { pino, type Logger } from 'pino';
import { SlipwayError } from './core/errors.ts';
import { buildApi } from './api/api-app.ts';
import { Engine } from './engine/engine.ts';
import type { RouteDrift } from './engine/route-sync.ts';
import { RouterSupervisor } from './router/router-supervisor.ts';
import { ProcessRuntime } from './runtime/process/process-runtime.ts';
import { processHostIdentity, uidRegistryProblem } from './runtime/process/run-identity.ts';
import { DockerRuntime } from './runtime/docker/docker-runtime.ts';
import { LazyKubeCluster } from './runtime/kubernetes/lazy-cluster.ts';
import { ClusterFleet } from './runtime/kubernetes/cluster-fleet.ts';
import { prepareLogRelay } from './observe/log-relay.ts';
import { AccessControl, maskTokens } from './security/api-tokens.ts';
import { AuditTrail, type AuditHealth } from './security/audit-trail.ts';
import { DEFAULT_RETENTION, pruneInstanceLogs } from './observe/log-retention.ts';
import { ServerMetrics } from './observe/metrics.ts';
import { prettyDestination } from './observe/pretty-log.ts';
import { WebhookNotifier } from './observe/webhook-notifier.ts';
import type { SlipwayEvent } from './core/events.ts';
import { formatListen, type ListenAddress, type WebhookSpec } from './core/service-config.ts';
import { appendMaskedLog } from './observe/append-masked-log.ts';
import { openSecrets } from './security/open-secrets.ts';
import { keepTls } from './engine/tls/keep-tls.ts';
import type { Secrets } from './security/secrets.ts';
import { loadOrCreateSigningKey } from './security/signing-key.ts';
import { Redactor } from './security/redactor.ts';
import { dataDirPaths, makeDataRoot, prepareDataDir } from './store/data-dir.ts';
import { acquireServerLock } from './store/server-lock.ts';
import { StateStore } from './store/state-store.ts';

export interface ServerOptions {
  dataDir: string;
  host: string;
  port: number;
  logLevel?: string;
  /** json (default): one JSON object a line, for collectors; pretty: for people. */
  logFormat?: 'json' | 'pretty';
  logger?: Logger;
  /** Failed authentications per client address per minute before it is refused (default 20; SLIPWAY_AUTH_FAILURE_LIMIT). */
  authFailureLimit?: number;
  /** The window those failures are counted in (default 60 s; SLIPWAY_AUTH_FAILURE_WINDOW_MS). */
  authFailureWindowMs?: number;
  /** The router's worker processes (slipway server --router-workers); a running router with another count is changed with no gap. Absent: whatever it runs (2 when started). */
  routerWorkers?: number;
}

export interface RunningServer {
  url: string;
  close(opts?: { stopInstances?: boolean; stopRouter?: boolean }): Promise<void>;
  closed: Promise<void>;
}

export interface ServerInfo {
  pid: number;
  url: string;
  dataDir: string;
  startedAt: number;
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const paths = dataDirPaths(opts.dataDir);
  // The lock first: a second server on a data directory in use is refused before it
  // changes anything there (prepareDataDir tightens modes).
  makeDataRoot(paths);
  const releaseLock = acquireServerLock(paths.serverLock, paths.root);
  const notices: string[] = [];
  try {
    prepareDataDir(paths, { onNotice: (m) => notices.push(m) });
    const registry = uidRegistryProblem();
    if (registry !== null) notices.push(registry);
  } catch (e) {
    releaseLock();
    throw e;
  }
  // Every secret value the server comes to know is masked in its own log lines and API answers.
  const redactor = new Redactor();
  const pinoOptions = { level: opts.logLevel ?? 'info', base: { pid: process.pid }, hooks: { streamWrite: (line: string) => maskTokens(redactor.redact(line)) } };
  const log = opts.logger ?? (opts.logFormat === 'pretty' ? pino(pinoOptions, prettyDestination()) : pino(pinoOptions));
  for (const n of notices) log.warn(n);
  // Before the router is started or adopted: a router that outlived the previous
  // server, or an instance, must never get the address CLI clients send tokens to.
  let claim: ApiClaim;
  try {
    claim = await claimApiAddress({ host: opts.host, port: opts.port });
  } catch (e) {
    releaseLock();
    throw e;
  }
  const store = new StateStore(paths.stateDb);
  let engine: Engine | null = null;
  let app: ReturnType<typeof buildApi> | null = null;
  try {
    const opened = await openSecrets({ configs: store.configs, dataDir: paths.root, keyFile: paths.masterKey, env: process.env, redactor });
    if (opened.keyCreated) log.info({ keyFile: paths.masterKey, keyId: opened.keyId }, 'created a master key for secrets (mode 0600); back it up, or set SLIPWAY_MASTER_KEY');
    else log.info({ keyId: opened.keyId, from: opened.keySource }, 'master key for secrets loaded');
    if (opened.warning) log.warn(opened.warning);
    const signing = loadOrCreateSigningKey(paths.signingKey);
    if (signing.created) log.info({ keyFile: paths.signingKey, keyId: signing.key.keyId }, 'created the Ed25519 signing key for artefact manifests and audit checkpoints (mode 0600)');
    if (signing.warning) log.warn(signing.warning);
    const access = new AccessControl(store.tokens);
    const audit = new AuditTrail(store.audit, signing.key, paths.auditHead, { redact: (t) => redactor.redact(t), onProblem: (message, fields) => log.error(fields, message) });
    const adminTokenId = access.bootstrapAdmin(paths.adminToken, 'admin');
    if (adminTokenId) {
      log.info({ file: paths.adminToken, tokenId: adminTokenId }, 'created the first admin token (mode 0600); the local CLI uses it; make named tokens with `slipway token create`');
      audit.append({ actor: 'slipway', action: 'token.create', env: null, target: `token ${adminTokenId}`, requestId: null, outcome: 'ok', details: { user: 'admin', role: 'admin', bootstrap: true } });
    }
    const router = await RouterSupervisor.start({ stateDir: paths.router, ...(opts.routerWorkers === undefined ? {} : { workers: opts.routerWorkers }) }, (msg) => log.warn(msg));
    log.info({ routerPid: router.pid, adminUrl: router.adminUrl }, 'router ready');
    // Every runtime is offered; an environment's `runtime:` picks one. The Docker
    // runtime connects (DOCKER_HOST, or the default socket) only when first used.
    const runtimes = {
      process: new ProcessRuntime({ logRelay: await prepareLogRelay(paths.bin, (m) => log.warn(m)) }),
      docker: new DockerRuntime({ dataDir: paths.root, writeLog: appendMaskedLog, onWarning: (m) => log.warn(m) }),
    };
    // Environments with runtime: kubernetes: one client per kubeconfig context ($KUBECONFIG,
    // ~/.kube/config, or the in-cluster account), connected when first used.
    const clusters = new Map<string, LazyKubeCluster>();
    const clusterFor = (context: string | null) => {
      const key = context ?? '';
      if (!clusters.has(key)) clusters.set(key, new LazyKubeCluster(context));
      return clusters.get(key)!;
    };
    // No environment may listen where the server does (its API, the router's admin API).
    const serverListeners = () => [
      { name: "the slipway server's own API address", address: claim.address },
      { name: "the router's admin API address", address: addressOfUrl(router.adminUrl) },
    ];
    // This server's own metrics registry: nothing of it is shared with another server in the process.
    const metrics = new ServerMetrics();
    engine = new Engine({
      store, runtimes, router, paths, log, secrets: opened.secrets, audit, signingKey: signing.key, serverListeners,
      // The engine reaches runtime/ only through what it is handed here (engine/ports.ts).
      clusterFleet: (hooks) => new ClusterFleet({ ...hooks, clusterFor }),
      // Release commands run as, and trees are given to, users this host makes (runtime/process).
      identity: processHostIdentity,
      onPipelineStage: (o) => metrics.observePipelineStage(o),
    });
    const started = engine;
    const stopObservability = wireObservability(started, { log, store, logsDir: paths.logs, secrets: opened.secrets, audit, dataDir: paths.root, metrics });
    started.routes.onDrift((d) => {
      metrics.countRouteDriftRepair(d.environments);
      reportRouteDrift(started, audit, d);
    });
    // Certificates for environments with tls: (files, or ACME); SLIPWAY_TLS_CHECK_MS shortens the hourly check (tests).
    const tls = keepTls({ engine, readSecret: (at, spec) => opened.secrets.readExternal(at, spec), cipher: opened.cipher, log, ...(Number(process.env.SLIPWAY_TLS_CHECK_MS) > 0 ? { checkEveryMs: Number(process.env.SLIPWAY_TLS_CHECK_MS), retryAfterMs: Number(process.env.SLIPWAY_TLS_CHECK_MS) } : {}) });
    // The certificates at hand go into the first table pushed, so a restart takes none away from the router.
    await tls.preload();
    await engine.start();
    tls.start();
    router.onRestart(() => void started.routes.push().catch((e: Error) => log.error({ err: e.message }, 'route push after router restart failed')));
    router.watch();
    const startedAt = Date.now();
    let closing: Promise<void> | null = null;
    let unregister = (): void => undefined;
    let resolveClosed!: () => void;
    const closed = new Promise<void>((r) => (resolveClosed = r));
    const info = (): ServerInfo & Record<string, unknown> => ({
      pid: process.pid, url, dataDir: paths.root, startedAt, router: { pid: router.pid, adminUrl: router.adminUrl },
    });
    const close = (c: { stopInstances?: boolean; stopRouter?: boolean } = {}): Promise<void> => {
      closing ??= (async () => {
        // Stopping waits on drains, kill timeouts and the reconciler's grace, whose timers
        // are unref'd: without a handle of its own the process could end half-way through,
        // leaving instances running and the audit unflushed.
        const keepAlive = setInterval(() => {}, 60_000);
        try {
          log.info(c, 'server stopping');
          await api.close().catch(() => undefined);
          stopObservability();
          tls.stop();
          if (c.stopInstances) await engine!.stopAllInstances();
          else await engine!.stop();
          await runtimes.docker.close();
          if (c.stopRouter) await router.shutdown().catch(() => undefined);
          else router.stop();
          unregister();
          rmSync(paths.serverJson, { force: true });
          const unwritten = audit.close();
          if (unwritten.length) log.error({ entries: unwritten }, 'audit entries could not be written to state.db before the server stopped (the disk is full); this log line is their only record');
          store.close();
          releaseLock();
          resolveClosed();
        } finally {
          clearInterval(keepAlive);
        }
      })();
      return closing;
    };
    const readiness = async () => {
      const checks: Record<string, string> = {};
      try {
        store.db.prepare('SELECT 1').get();
        checks.state = 'ok';
      } catch (e) {
        checks.state = `state.db cannot be read: ${(e as Error).message}`;
      }
      try {
        const res = await fetch(`${router.adminUrl}/readyz`, { signal: AbortSignal.timeout(1000) });
        checks.router = res.ok ? 'ok' : `router not ready (HTTP ${res.status})`;
      } catch (e) {
        checks.router = `router unreachable: ${(e as Error).message}`;
      }
      checks.disk = dataDiskCheck(paths.root);
      checks.audit = auditCheck(audit.health());
      checks.closing = closing ? 'the server is stopping' : 'ok';
      return { ready: Object.values(checks).every((v) => v === 'ok'), checks };
    };
    const failureLimit = opts.authFailureLimit ?? (Number(process.env.SLIPWAY_AUTH_FAILURE_LIMIT) || undefined);
    const failureWindow = opts.authFailureWindowMs ?? (Number(process.env.SLIPWAY_AUTH_FAILURE_WINDOW_MS) || undefined);
    const api = buildApi({
      engine, metrics, logger: log, info, onShutdown: (s) => void close(s), redact: (text) => redactor.redact(text), access, audit, readiness,
      ...(failureLimit !== undefined ? { authFailureLimit: failureLimit } : {}),
      ...(failureWindow !== undefined ? { authFailureWindowMs: failureWindow } : {}), version: packageVersion(),
    });
    app = api;
    await api.ready();
    await claim.handOver(api.server);
    const url = `http://${formatListen({ host: opts.host, port: claim.address.port })}`;
    writeFileAtomicSync(paths.serverJson, JSON.stringify({ pid: process.pid, url, dataDir: paths.root, startedAt } satisfies ServerInfo));
    // So the CLI in any service's directory finds this server (store/server-register.ts).
    const register = registerServer(paths.root);
    unregister = register.unregister;
    if (register.problem) log.warn(`${register.problem}; the CLI finds this server only by --data-dir ${paths.root} (or SLIPWAY_DATA_DIR)`);
    log.info({ url, dashboard: `${url}/ui/`, dataDir: paths.root }, 'slipway server listening');
    return { url, close, closed };
  } catch (e) {
    await app?.close().catch(() => undefined);
    claim.release();
    await engine?.stop().catch(() => undefined);
    store.close();
    releaseLock();
    throw e;
  }
}

interface ApiClaim {
  /** The address bound (the port the system chose, for port 0). */
  address: ListenAddress;
  /** The API server takes over the listening socket, and the connections that waited for it. */
  handOver(server: HttpServer): Promise<void>;
  /** Closes the address (when the server fails to start); nothing after handOver. */
  release(): void;
}

/**
 * Binds the API address with a plain socket server. Connections that arrive while
 * the server starts are held, paused, and handed to the API once it is ready; the
 * listening socket itself moves to the API's HTTP server, so the address is never
 * free in between.
 */
function sameListen(url: string, a: ListenAddress): boolean {
  try {
    const u = new URL(url);
    return Number(u.port) === a.port && (u.hostname.replace(/^\[|\]$/g, '') === a.host || a.host === '0.0.0.0' || a.host === '::');
  } catch {
    return false;
  }
}

async function claimApiAddress(a: ListenAddress): Promise<ApiClaim> {
  // Each waiting socket with its own error handler, which the API's server replaces.
  const waiting = new Map<Socket, () => void>();
  const claim = createNetServer({ pauseOnConnect: true }, (s) => {
    const drop = () => s.destroy();
    waiting.set(s, drop);
    s.on('error', drop);
    s.once('close', () => waiting.delete(s));
  });
  try {
    await new Promise<void>((resolve, reject) => {
      claim.once('error', reject);
      claim.listen({ host: a.host, port: a.port, exclusive: true }, () => {
        claim.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    // Most often a second `slipway server`, started in another service's directory:
    // one server runs every service, and the CLI finds it from anywhere.
    const holder = (e as NodeJS.ErrnoException).code === 'EADDRINUSE' ? runningServers().find((r) => sameListen(r.url, a)) : undefined;
    const hint = holder
      ? `a slipway server (pid ${holder.pid}, data directory ${holder.dataDir}) already listens there; it runs every service on this host, and the CLI finds it from any service's directory: deploy there instead of starting another`
      : 'stop what holds it, or pick another address with --listen';
    throw new SlipwayError('E_LISTEN_FAILED', `the API cannot listen on ${formatListen(a)}: ${(e as Error).message}; ${hint}`, { address: formatListen(a), ...(holder ? { dataDir: holder.dataDir } : {}) }, { cause: e });
  }
  const bound = claim.address() as AddressInfo;
  let handedOver = false;
  return {
    address: { host: bound.address, port: bound.port },
    handOver: (server) => new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(claim, () => {
        server.off('error', reject);
        handedOver = true;
        for (const [s, drop] of waiting) {
          s.off('error', drop);
          server.emit('connection', s);
          s.resume();
        }
        waiting.clear();
        resolve();
      });
    }),
    release: () => {
      if (handedOver) return;
      for (const s of waiting.keys()) s.destroy();
      claim.close();
    },
  };
}

/**
 * Below this much free space the data directory's disk counts as full: a deploy
 * needs room for an artefact, a release directory, logs and state.db's WAL.
 */
const MIN_FREE_DISK_BYTES = 16 * 1024 * 1024;
const MIN_FREE_INODES = 256;

/** 'ok', or what /readyz says of the data directory's file system (`disk_full: …` when it has no room). */
function dataDiskCheck(root: string): string {
  let fs;
  try {
    fs = statfsSync(root);
  } catch (e) {
    return `the data directory's file system cannot be read: ${(e as Error).message}`;
  }
  const free = fs.bavail * fs.bsize;
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  if (free < MIN_FREE_DISK_BYTES) {
    return `disk_full: ${mib(free)} free on the data directory's file system (${root}), under the ${mib(MIN_FREE_DISK_BYTES)} slipway needs; free space there`;
  }
  // Some file systems (btrfs) report no inode count at all: then there is no limit to check.
  if (fs.files > 0 && fs.ffree < MIN_FREE_INODES) {
    return `disk_full: ${fs.ffree} free inodes on the data directory's file system (${root}); delete files there`;
  }
  return 'ok';
}

/** 'ok', or why the audit trail is behind: entries wait in memory until the disk takes them. */
function auditCheck(h: AuditHealth): string {
  if (h.waiting > 0) return `${h.waiting} audit entr${h.waiting === 1 ? 'y is' : 'ies are'} waiting to be written (${h.lastError ?? 'write failed'}); they are written once the disk has room`;
  if (h.checkpointBehind) return `the signed audit checkpoint could not be written (${h.lastError ?? 'write failed'})`;
  return 'ok';
}

/** host and port of an http:// URL (the router's admin API). */
function addressOfUrl(url: string): ListenAddress {
  const u = new URL(url);
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  return { host, port: Number(u.port) };
}

/**
 * Subscribers of the event bus (metrics, webhooks), the scrape-time metrics
 * source, and the retention of old instance logs.
 */
function wireObservability(engine: Engine, o: { log: Logger; store: StateStore; logsDir: string; secrets: Secrets; audit: AuditTrail; dataDir: string; metrics: ServerMetrics }): () => void {
  const { metrics } = o;
  metrics.setSource({
    rolloutPhaseCounts: () => o.store.observe.rolloutPhaseCounts(),
    instanceCounts: () => o.store.observe.instanceCounts(),
    routerCounts: () => engine.sampler.allSnapshots(),
    recordedRequests: () => engine.sampler.recordedCounts(),
    auditHealth: () => o.audit.health(),
    tlsCertificates: () => o.store.listEnvironmentNames().flatMap((env) => (engine.tls?.status(env)?.certificates ?? []).map((c) => ({ env, names: c.names, notAfterMs: Date.parse(c.notAfter) }))),
    dataDiskFreeBytes: () => {
      try {
        const fs = statfsSync(o.dataDir);
        return fs.bavail * fs.bsize;
      } catch {
        return null;
      }
    },
  });
  const notifier = new WebhookNotifier({
    webhooksFor: (e) => webhooksOf(o.store, e),
    recordFailure: (f) => o.store.observe.addNotificationFailure(f),
    warn: (fields, message) => o.log.warn(fields, message),
    onOutcome: (outcome) => metrics.countNotification(outcome),
    // A url read from a secret is known only now: the admin's policy is checked on it before each use.
    resolveUrl: async (hook, env) => {
      const url = await o.secrets.readExternal({ env, name: 'webhook url' }, hook.urlFrom!);
      await engine.assertUrlAllowed(env, `environments.${envNameOf(env)}.notifications (url_from)`, url);
      return url;
    },
  });
  const unsubscribe = [engine.events.subscribe((e) => metrics.recordEvent(e)), engine.events.subscribe((e) => notifier.onEvent(e))];
  const prune = () => {
    try {
      const live = new Set(o.store.liveInstances().map((i) => i.logPath));
      const deleted = pruneInstanceLogs({ logsDir: o.logsDir, livePaths: live, ...DEFAULT_RETENTION, now: Date.now() });
      if (deleted.length) o.log.info({ files: deleted.length }, 'deleted old instance logs past the retention limit');
    } catch (e) {
      o.log.warn({ err: (e as Error).message }, 'instance log retention failed');
    }
  };
  const timer = setInterval(prune, 10 * 60_000);
  timer.unref();
  setTimeout(prune, 30_000).unref();
  return () => {
    clearInterval(timer);
    for (const u of unsubscribe) u();
    notifier.stop();
    metrics.setSource(null);
  };
}

/**
 * A router table rewritten behind the server's back is on record twice: an event
 * per environment whose routes had changed (for people watching, and webhooks),
 * and an audit entry (the tamper-evident record: someone who could do this holds
 * the router's admin secret).
 */
function reportRouteDrift(engine: Engine, audit: AuditTrail, d: RouteDrift): void {
  const details = { found: d.found, sent: d.sent, repairedVersion: d.repairedVersion };
  for (const env of d.environments.length ? d.environments : [null]) {
    const what = env === null ? `the router's route table (version ${d.found.version}, routes unchanged)` : `the router's routes for ${env}`;
    engine.events.publish({
      type: 'router.drift', env, level: 'warn',
      message: `${what} differed from what slipway sent (version ${d.sent.version}); sent the right table again as version ${d.repairedVersion}`,
      data: details,
    });
    audit.append({ actor: 'slipway-reconciler', action: 'router.repair', env, target: 'route table', requestId: null, outcome: 'ok', details });
  }
}

/** The webhooks of an event's environment: from the release its rollout moves to, else the stable one. */
function webhooksOf(store: StateStore, e: SlipwayEvent): WebhookSpec[] {
  if (!e.env) return [];
  const rollout = e.rolloutId === null ? null : store.getRollout(e.rolloutId);
  const releaseId = rollout?.toReleaseId ?? store.getStableReleaseId(e.env);
  const release = releaseId === null ? null : store.getRelease(releaseId);
  return release?.config.environment.notifications ?? [];
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}
