// slipway router: the data-plane process. It proxies each environment's traffic to
// the ready instances by release weight, counts what it sees, and drains instances
// on request. It is its own process so that a crash or restart of the server drops
// no request, and it keeps its last route table in routes.json so that a restart of
// the router itself restores routing. It never decides anything: the server pushes
// tables, the router applies them, and its admin API answers the server alone: the
// server hands it a fresh admin secret in SLIPWAY_ROUTER_SECRET (see admin-secret.ts).
//
// The process the server starts is the keeper: it holds the admin API, the table and
// the listening sockets, and forks --workers processes (default 2) that share those
// sockets and do the proxying (router-workers.ts, router-worker.ts). A worker killed
// with kill -9 loses only its requests in flight; the others keep serving.
//
// Usage: SLIPWAY_ROUTER_SECRET=<64 hex> node --import tsx src/router/router-main.ts --state-dir DIR [--admin-port N] [--workers N]

import cluster from 'node:cluster';
import { join, resolve } from 'node:path';
import { readFile, unlink } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { SlipwayError, errorMessage } from '../core/errors.ts';
import { DEFAULT_ROUTER_WORKERS, MAX_ROUTER_WORKERS } from '../core/router-workers.ts';
import { ROUTER_SECRET_ENV, parseAdminSecret, prepareStateDir } from './admin-secret.ts';
import { createAdminServer } from './admin-server.ts';
import { readJsonFile, writeFileAtomic } from './atomic-file.ts';
import { parseRouteTable, type RouteTable } from './route-table.ts';
import { runRouterWorker } from './router-worker.ts';
import { RouterWorkers } from './router-workers.ts';
import { ReplayStore } from './shadow/replay-store.ts';
import { loadSealKey, mapTableKeys, sealText, unsealText } from './tls/sealed-keys.ts';

const log = pino({ name: 'slipway-router' });

interface RouterArgs {
  stateDir: string;
  adminPort: number;
  secret: string;
  workers: number;
}

function parseRouterArgs(argv: string[]): RouterArgs {
  const { values } = parseArgs({
    args: argv,
    options: { 'state-dir': { type: 'string' }, 'admin-port': { type: 'string', default: '0' }, workers: { type: 'string', default: String(DEFAULT_ROUTER_WORKERS) } },
    strict: true,
  });
  const stateDir = values['state-dir'];
  if (stateDir === undefined) throw new SlipwayError('E_BAD_REQUEST', 'missing --state-dir DIR: the directory for router.json and routes.json');
  const adminPort = Number(values['admin-port']);
  if (!Number.isInteger(adminPort) || adminPort < 0 || adminPort > 65535) {
    throw new SlipwayError('E_BAD_REQUEST', `--admin-port must be a port number 0..65535, got "${values['admin-port']}"`);
  }
  const workers = Number(values.workers);
  if (!Number.isInteger(workers) || workers < 1 || workers > MAX_ROUTER_WORKERS) {
    throw new SlipwayError('E_BAD_REQUEST', `--workers must be a whole number from 1 to ${MAX_ROUTER_WORKERS}, got "${values.workers}"`);
  }
  const secret = parseAdminSecret(process.env[ROUTER_SECRET_ENV], `$${ROUTER_SECRET_ENV}`);
  // Nothing this process starts, or prints, should carry it on.
  delete process.env[ROUTER_SECRET_ENV];
  return { stateDir: resolve(stateDir), adminPort, secret, workers };
}

async function runRouter(args: RouterArgs): Promise<void> {
  await prepareStateDir(args.stateDir);
  const routesFile = join(args.stateDir, 'routes.json');
  const infoFile = join(args.stateDir, 'router.json');
  // Private keys in routes.json are sealed with a key of the router's own (tls/sealed-keys.ts).
  const sealKey = await loadSealKey(args.stateDir);
  const startedAt = new Date().toISOString();
  // Requests recorded for replay to staging: the workers send them, the keeper alone writes them.
  const replay: ReplayStore = new ReplayStore({
    dir: join(args.stateDir, 'replay'),
    boundsOf: (env) => router.table().environments[env]?.record,
    onError: (env, err) => log.warn({ env, err: err.message }, 'cannot write recorded requests for replay'),
  });
  const router = new RouterWorkers({
    count: args.workers, startedAt, log: { info: (fields, msg) => log.info(fields, msg), warn: (fields, msg) => log.warn(fields, msg) },
    onRecord: (env, line) => replay.add(env, line),
    keeperRecorded: () => replay.counts(),
  });
  let isReady = false;
  let restoreError: string | undefined;
  let isStopping = false;

  const stop = async (reason: string): Promise<void> => {
    if (isStopping) return;
    isStopping = true;
    log.info({ reason }, 'router stopping: closing listeners, letting requests in flight finish');
    admin.close();
    await router.close(10_000);
    await replay.flush();
    await removeInfoFileIfOurs(infoFile);
    log.info('router stopped');
    process.exit(0);
  };

  const admin = createAdminServer({
    router,
    secret: args.secret,
    log: { info: (fields, msg) => log.info(fields, msg), warn: (fields, msg) => log.warn(fields, msg) },
    pid: process.pid,
    startedAt,
    persistTable: (t: RouteTable) => writeFileAtomic(routesFile, JSON.stringify(mapTableKeys(t, (k) => sealText(k, sealKey)), null, 2) + '\n'),
    isReady: () => isReady,
    restoreError: () => restoreError,
    shutdown: () => void stop('POST /shutdown'),
  });
  // Read before the admin API opens, so a table the server pushes at once cannot be
  // overwritten by this older one (restoreTable also skips it if one was pushed).
  const saved = await readSavedRoutes(routesFile, sealKey);
  restoreError = saved.error;
  // The workers first: a router that answers its admin API is one that serves.
  await router.start(saved.table);
  const adminUrl = await listenAdmin(admin, args.adminPort);
  await writeFileAtomic(infoFile, JSON.stringify({ pid: process.pid, adminUrl, startedAt }) + '\n');
  log.info({ adminUrl, stateDir: args.stateDir }, 'router admin listening');

  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  if (saved.table !== undefined) log.info({ version: saved.table.version, workers: router.pids }, 'routes restored from routes.json');
  isReady = true;
}

function listenAdmin(admin: ReturnType<typeof createAdminServer>, port: number): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    admin.once('error', (e) =>
      reject(new SlipwayError('E_LISTEN_FAILED', `router admin cannot listen on 127.0.0.1:${port}: ${errorMessage(e)}; choose another --admin-port or 0`, {}, { cause: e })),
    );
    admin.listen(port, '127.0.0.1', () => {
      const a = admin.address();
      resolvePromise(`http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : port}`);
    });
  });
}

/** The table in routes.json, if any; a broken file is reported, not fatal: the server will push a new table. */
async function readSavedRoutes(routesFile: string, sealKey: Buffer): Promise<{ table?: RouteTable; error?: string }> {
  try {
    const saved = await readJsonFile(routesFile);
    return saved === undefined ? {} : { table: parseRouteTable(mapTableKeys(saved, (k) => unsealText(k, sealKey))) };
  } catch (e) {
    const error = `cannot restore ${routesFile}: ${errorMessage(e)}; routing stays empty until the server pushes a table`;
    log.error(error);
    return { error };
  }
}

async function removeInfoFileIfOurs(infoFile: string): Promise<void> {
  try {
    const info = JSON.parse(await readFile(infoFile, 'utf8')) as { pid?: number };
    if (info.pid === process.pid) await unlink(infoFile);
  } catch {
    // Already gone or replaced by a newer router: nothing to clean.
  }
}

// A bug in one request's handling must not take every environment's routing down:
// the router has no supervisor but the next server call to ensureRouter.
process.on('uncaughtException', (e) => log.error({ err: e }, 'uncaught exception in router; continuing'));
process.on('unhandledRejection', (e) => log.error({ err: e }, 'unhandled rejection in router; continuing'));

try {
  if (cluster.isWorker) runRouterWorker({ info: (fields, msg) => log.info(fields, msg), warn: (fields, msg) => log.warn(fields, msg) });
  else await runRouter(parseRouterArgs(process.argv.slice(2)));
} catch (e) {
  log.fatal({ err: e }, errorMessage(e));
  process.exit(1);
}
