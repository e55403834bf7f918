// The router's admin API, for the slipway server only: JSON over HTTP on 127.0.0.1,
// every request but the liveness/readiness probes carrying the admin secret (see
// admin-guard.ts). Bad input is refused with 400 and a message naming the field, and
// changes nothing. Every refused request and every change is written to the log.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { SlipwayError, errorMessage, isSlipwayError } from '../core/errors.ts';
import { checkAdminRequest } from './admin-guard.ts';
import type { ListenerStatus } from './address-listener.ts';
import { type RouteTable, type RouteTableHead, type RouterHeadAnswer } from './route-table.ts';
import type { PutTableResult } from './router.ts';
import type { RouterStatsJson } from './router-stats.ts';
import { redactTableKeys } from './tls/tls-routes.ts';
import { MAX_ROUTER_WORKERS } from '../core/router-workers.ts';
import { parseRouterProgram, type RouterProgram } from './router-code.ts';

const MAX_BODY_BYTES = 8 * 1024 * 1024;
/** Refusals logged per window; the rest are counted, so a flood cannot fill the disk. */
const REFUSALS_LOGGED_PER_WINDOW = 20;
const REFUSAL_WINDOW_MS = 60_000;

export interface AdminLog {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

/** What the admin API steers: the router's worker processes, through their keeper (router-workers.ts). */
export interface RouterControl {
  table(): RouteTable;
  head(): RouteTableHead;
  /** Validates a pushed table (with the newest schema the router runs); throws E_BAD_REQUEST. */
  checkTable(raw: unknown): Promise<RouteTable>;
  putTable(table: RouteTable, persist: (t: RouteTable) => Promise<void>): Promise<PutTableResult>;
  stats(): Promise<RouterStatsJson>;
  listenerStatus(): Promise<Record<string, ListenerStatus>>;
  inflight(backendId: string): Promise<{ requests: number; upgraded: number }>;
  drainWithin(backendId: string, timeoutMs: number): Promise<{ requests: number; upgraded: number }>;
  /** routerCodeDigest() of the code the serving workers run. */
  readonly code: string;
  /** How many workers serve. */
  readonly workerCount: number;
  /** New workers (`count` of them, by default as many as now) from the code on disk take the sockets over; the old ones finish within `drainMs`. */
  upgrade(drainMs: number, program?: RouterProgram, count?: number): Promise<UpgradeAnswer>;
}

/** What POST /upgrade answers (router-client.ts reads it). */
export interface UpgradeAnswer {
  code: string;
  /** Pids of the workers that serve now. */
  serving: number[];
  /** Pids of the replaced workers, finishing what they serve. */
  retiring: number[];
}

export interface AdminContext {
  router: RouterControl;
  /** The admin secret this router was started with (64 hex digits). */
  secret: string;
  log: AdminLog;
  pid: number;
  startedAt: string;
  /** Writes routes.json; called before a new table is applied. */
  persistTable(table: RouteTable): Promise<void>;
  /** True once routes.json (if any) was read back and applied. */
  isReady(): boolean;
  /** Why routes.json could not be restored, if it could not. */
  restoreError(): string | undefined;
  /** Answers first, then stops the process. */
  shutdown(): void;
}

export function createAdminServer(ctx: AdminContext): Server {
  const logRefusal = refusalLogger(ctx.log);
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const method = req.method ?? 'GET';
    const verdict = checkAdminRequest({ method, path, headers: req.headers }, ctx.secret);
    if (!verdict.ok) {
      logRefusal({ method, path, remote: req.socket.remoteAddress, status: verdict.status, reason: verdict.message });
      // The body, if any, is never read: close the connection rather than keep it alive.
      res.setHeader('connection', 'close');
      return sendJson(res, verdict.status, { error: { code: verdict.code, message: verdict.message } });
    }
    route(ctx, { method, path }, req, res).catch((e: unknown) => sendError(res, e));
  });
}

function refusalLogger(log: AdminLog): (fields: Record<string, unknown>) => void {
  let windowStart = 0;
  let logged = 0;
  let suppressed = 0;
  return (fields) => {
    const now = Date.now();
    if (now - windowStart >= REFUSAL_WINDOW_MS) {
      if (suppressed > 0) log.warn({ suppressed }, 'admin requests refused and not logged in the last window');
      windowStart = now;
      logged = 0;
      suppressed = 0;
    }
    if (logged >= REFUSALS_LOGGED_PER_WINDOW) {
      suppressed++;
      return;
    }
    logged++;
    log.warn(fields, 'admin request refused');
  };
}

async function route(ctx: AdminContext, at: { method: string; path: string }, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { method, path } = at;
  if (method === 'GET' && path === '/healthz') return sendJson(res, 200, { ok: true, pid: ctx.pid });
  if (method === 'GET' && path === '/readyz') return sendJson(res, ctx.isReady() ? 200 : 503, { ready: ctx.isReady() });
  // Private keys never leave the router: a fingerprint stands in for each (tls/tls-routes.ts).
  if (method === 'GET' && path === '/routes') return sendJson(res, 200, redactTableKeys(ctx.router.table()));
  // Version and digest only: what the server compares every reconciler pass, without the whole table.
  if (method === 'GET' && path === '/routes/head') return sendJson(res, 200, { ...ctx.router.head(), ready: ctx.isReady() } satisfies RouterHeadAnswer);
  if (method === 'PUT' && path === '/routes') return putRoutes(ctx, req, res);
  if (method === 'GET' && path === '/stats') return sendJson(res, 200, await ctx.router.stats());
  if (method === 'GET' && path === '/status') return sendJson(res, 200, await status(ctx));
  // `inflight` counts upgraded connections too: a server that knows only `inflight` still waits for them.
  if (method === 'GET' && path.startsWith('/inflight/')) {
    const id = decodeURIComponent(path.slice('/inflight/'.length));
    return sendJson(res, 200, inflightAnswer(await ctx.router.inflight(id)));
  }
  if (method === 'POST' && path.startsWith('/drain/')) {
    const id = decodeURIComponent(path.slice('/drain/'.length));
    const timeoutMs = parseDrainTimeout(parseJson(await readBody(req)));
    ctx.log.info({ backend: id, timeoutMs }, 'admin: drain deadline set; upgraded connections are closed at it');
    return sendJson(res, 200, inflightAnswer(await ctx.router.drainWithin(id, timeoutMs)));
  }
  if (method === 'POST' && path === '/upgrade') {
    const body = parseJson(await readBody(req));
    const timeoutMs = parseDrainTimeout(body);
    // Absent (a server from before programs were named): the keeper's own program again.
    const raw = (body as { program?: unknown }).program;
    const program = raw === undefined ? undefined : parseRouterProgram(raw);
    const workers = parseWorkerCount((body as { workers?: unknown }).workers);
    ctx.log.info({ remote: req.socket.remoteAddress, timeoutMs, entry: program?.entry, workers }, 'admin: upgrade requested; new workers take the listeners over');
    return sendJson(res, 200, await ctx.router.upgrade(timeoutMs, program, workers));
  }
  if (method === 'POST' && path === '/shutdown') {
    ctx.log.info({ remote: req.socket.remoteAddress }, 'admin: shutdown requested');
    sendJson(res, 200, { ok: true });
    res.on('finish', () => ctx.shutdown());
    return;
  }
  sendJson(res, 404, { error: { code: 'E_NOT_FOUND', message: `no admin route ${method} ${path}` } });
}

async function putRoutes(ctx: AdminContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const table = await ctx.router.checkTable(parseJson(await readBody(req)));
  const result = await ctx.router.putTable(table, (t) => ctx.persistTable(t));
  ctx.log.info({ remote: req.socket.remoteAddress, version: table.version, environments: Object.keys(table.environments), applied: result.ok }, 'admin: route table pushed');
  if (!result.ok) {
    return sendJson(res, 409, {
      error: {
        code: 'E_BAD_REQUEST',
        message: `route table version ${table.version} is older than the current version ${result.currentVersion}; push a table with version ≥ ${result.currentVersion}`,
        currentVersion: result.currentVersion,
      },
    });
  }
  sendJson(res, 200, { version: result.version, listeners: result.listeners });
}

/** What GET /inflight and POST /drain answer (router-client.ts reads it). */
export interface InflightAnswer {
  /** requests + upgraded: what a drain waits for. */
  inflight: number;
  requests: number;
  upgraded: number;
}

function inflightAnswer(n: { requests: number; upgraded: number }): InflightAnswer {
  return { inflight: n.requests + n.upgraded, requests: n.requests, upgraded: n.upgraded };
}

function parseDrainTimeout(body: unknown): number {
  const timeoutMs = (body as { timeoutMs?: unknown } | null)?.timeoutMs;
  if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > 86_400_000) {
    throw new SlipwayError('E_BAD_REQUEST', `timeoutMs must be a whole number of ms from 0 to 86400000, got ${JSON.stringify(timeoutMs)}`);
  }
  return timeoutMs;
}

async function status(ctx: AdminContext): Promise<Record<string, unknown>> {
  const head = ctx.router.head();
  const out: Record<string, unknown> = {
    pid: ctx.pid,
    startedAt: ctx.startedAt,
    ready: ctx.isReady(),
    version: head.version,
    digest: head.digest,
    code: ctx.router.code,
    workers: ctx.router.workerCount,
    listeners: await ctx.router.listenerStatus(),
  };
  const restoreError = ctx.restoreError();
  if (restoreError !== undefined) out.restoreError = restoreError;
  return out;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new SlipwayError('E_BAD_REQUEST', `request body is over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new SlipwayError('E_BAD_REQUEST', `request body is not JSON: ${errorMessage(e)}`);
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), 'cache-control': 'no-store' });
  res.end(data);
}

function sendError(res: ServerResponse, e: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (isSlipwayError(e) && e.code === 'E_BAD_REQUEST') {
    sendJson(res, 400, { error: { code: e.code, message: e.message, ...e.details } });
    return;
  }
  const code = isSlipwayError(e) ? e.code : 'E_INTERNAL';
  sendJson(res, 500, { error: { code, message: errorMessage(e) } });
}

/** An upgrade's `workers`: absent (as many as now), or a whole number from 1 to 64. */
function parseWorkerCount(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_ROUTER_WORKERS) {
    throw new SlipwayError('E_BAD_REQUEST', `workers must be a whole number from 1 to ${MAX_ROUTER_WORKERS}, got ${JSON.stringify(v)}`);
  }
  return v;
}
