// The slipway server: the only place where concrete drivers are chosen and wired.
// It holds the data directory's lock, adopts the router and the instances a
// previous server left running, resumes rollouts, and serves the HTTP API.

import { mkdirSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { pino, type Logger } from 'pino';
import { SlipwayError } from './core/errors.ts';
import { buildApi } from './api/api-app.ts';
import { Engine } from './engine/engine.ts';
import { RouterSupervisor } from './router/router-supervisor.ts';
import { ProcessRuntime } from './runtime/process/process-runtime.ts';
import { DockerRuntime } from './runtime/docker/docker-runtime.ts';
import { prepareLogRelay } from './observe/log-relay.ts';
import { appendMaskedLog } from './observe/append-masked-log.ts';
import { openSecrets } from './security/open-secrets.ts';
import { Redactor } from './security/redactor.ts';
import { dataDirPaths } from './store/data-dir.ts';
import { acquireServerLock } from './store/server-lock.ts';
import { StateStore } from './store/state-store.ts';

export interface ServerOptions {
  dataDir: string;
  host: string;
  port: number;
  logLevel?: string;
  logger?: Logger;
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
  for (const d of [paths.root, paths.artefacts, paths.releases, paths.logs, paths.router, paths.tmp]) mkdirSync(d, { recursive: true });
  // Every secret value the server comes to know is masked in its own log lines and API answers.
  const redactor = new Redactor();
  const log = opts.logger ?? pino({ level: opts.logLevel ?? 'info', base: { pid: process.pid }, hooks: { streamWrite: (line) => redactor.redact(line) } });
  const releaseLock = acquireServerLock(paths.serverLock, paths.root);
  const store = new StateStore(paths.stateDb);
  let engine: Engine | null = null;
  try {
    const opened = await openSecrets({ configs: store.configs, dataDir: paths.root, keyFile: paths.masterKey, env: process.env, redactor });
    if (opened.keyCreated) log.info({ keyFile: paths.masterKey, keyId: opened.keyId }, 'created a master key for secrets (mode 0600); back it up, or set SLIPWAY_MASTER_KEY');
    else log.info({ keyId: opened.keyId, from: opened.keySource }, 'master key for secrets loaded');
    if (opened.warning) log.warn(opened.warning);
    const router = await RouterSupervisor.start({ stateDir: paths.router }, (msg) => log.warn(msg));
    log.info({ routerPid: router.pid, adminUrl: router.adminUrl }, 'router ready');
    // Every runtime is offered; an environment's `runtime:` picks one. The Docker
    // runtime connects (DOCKER_HOST, or the default socket) only when first used.
    const runtimes = {
      process: new ProcessRuntime({ logRelay: await prepareLogRelay(paths.bin, (m) => log.warn(m)) }),
      docker: new DockerRuntime({ dataDir: paths.root, writeLog: appendMaskedLog, onWarning: (m) => log.warn(m) }),
    };
    engine = new Engine({ store, runtimes, router, paths, log, secrets: opened.secrets });
    await engine.start();
    const started = engine;
    router.onRestart(() => void started.routes.push().catch((e: Error) => log.error({ err: e.message }, 'route push after router restart failed')));
    router.watch();
    const startedAt = Date.now();
    let closing: Promise<void> | null = null;
    let resolveClosed!: () => void;
    const closed = new Promise<void>((r) => (resolveClosed = r));
    const info = (): ServerInfo & Record<string, unknown> => ({
      pid: process.pid, url, dataDir: paths.root, startedAt, router: { pid: router.pid, adminUrl: router.adminUrl },
    });
    const close = (c: { stopInstances?: boolean; stopRouter?: boolean } = {}): Promise<void> => {
      closing ??= (async () => {
        log.info(c, 'server stopping');
        await app.close().catch(() => undefined);
        if (c.stopInstances) await engine!.stopAllInstances();
        else await engine!.stop();
        await runtimes.docker.close();
        if (c.stopRouter) await router.shutdown().catch(() => undefined);
        else router.stop();
        rmSync(paths.serverJson, { force: true });
        store.close();
        releaseLock();
        resolveClosed();
      })();
      return closing;
    };
    const app = buildApi({ engine, logger: log, info, onShutdown: (s) => void close(s), redact: (text) => redactor.redact(text) });
    let url: string;
    try {
      await app.listen({ host: opts.host, port: opts.port });
      const addr = app.server.address();
      url = `http://${opts.host}:${typeof addr === 'object' && addr ? addr.port : opts.port}`;
    } catch (e) {
      throw new SlipwayError('E_LISTEN_FAILED', `the API cannot listen on ${opts.host}:${opts.port}: ${(e as Error).message}; pick another with --listen`, {}, { cause: e });
    }
    writeAtomically(paths.serverJson, JSON.stringify({ pid: process.pid, url, dataDir: paths.root, startedAt } satisfies ServerInfo));
    log.info({ url, dataDir: paths.root }, 'slipway server listening');
    return { url, close, closed };
  } catch (e) {
    await engine?.stop().catch(() => undefined);
    store.close();
    releaseLock();
    throw e;
  }
}

function writeAtomically(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}
