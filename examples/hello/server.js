// hello: the example service slipway deploys in its tests, demo and benchmarks.
// No dependencies, so an artefact of this directory runs anywhere Node 20 does.
// Every misbehaviour a deploy must survive is a knob in the environment (see
// README.md), so a test can ask for "a release that fails 20% of requests"
// without writing a new service.

import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';

const env = process.env;
const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));

const version = env.APP_VERSION || pkg.version;
const greeting = env.GREETING || 'hello';
const instance = env.SLIPWAY_INSTANCE || null;
const host = env.HOST || '127.0.0.1';

function log(msg, fields = {}) {
  process.stdout.write(`${JSON.stringify({ ts: new Date().toISOString(), msg, ...fields })}\n`);
}

function fatal(message) {
  process.stderr.write(`hello: ${message}\n`);
  process.exit(1);
}

/** A non-negative number from the environment, or `fallback` when unset. */
function numberFromEnv(name, fallback, max = Number.POSITIVE_INFINITY) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || n > max) fatal(`${name}=${raw} must be a number from 0 to ${max}`);
  return n;
}

if (env.CRASH_ON_START === '1') fatal('CRASH_ON_START=1: exiting with status 1 as asked');

const port = numberFromEnv('PORT', 3000, 65535); // PORT=0 picks a free port; the start line says which
const failRate = numberFromEnv('FAIL_RATE', 0, 1);
const latencyMs = numberFromEnv('LATENCY_MS', 0);
// FAIL_RATE applies only this long after start: a release that looks healthy, then regresses.
const failAfterMs = numberFromEnv('FAIL_AFTER_MS', 0);
const startedAtMs = Date.now();
// FAIL_RATE applies only while this file exists: a test turns a release bad at the moment it chooses.
const failWhileFile = env.FAIL_WHILE_FILE_EXISTS || null;
let isFailFilePresent = failWhileFile === null;
if (failWhileFile !== null) {
  const look = () => { isFailFilePresent = existsSync(failWhileFile); };
  look();
  setInterval(look, 100).unref();
}
const latencyJitterMs = numberFromEnv('LATENCY_JITTER_MS', 0);
const startDelayMs = numberFromEnv('START_DELAY_MS', 0);
const failHealth = env.FAIL_HEALTH === '1';
const logEveryRequest = env.LOG_EVERY_REQUEST === '1';

if (env.PRINT_ENV) {
  const names = env.PRINT_ENV.split(',').map((s) => s.trim()).filter(Boolean);
  log('env', { env: Object.fromEntries(names.map((n) => [n, env[n] ?? null])) });
}

let isDraining = false;
let inFlight = 0;

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  // While draining, each response closes its connection: a client that keeps it
  // for the next request would otherwise race the exit.
  if (isDraining) res.setHeader('connection', 'close');
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function handleRoot(res) {
  const delayMs = latencyMs + (latencyJitterMs > 0 ? Math.random() * latencyJitterMs : 0);
  if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
  if (failRate > 0 && isFailFilePresent && Date.now() - startedAtMs >= failAfterMs && Math.random() < failRate) {
    sendJson(res, 500, { error: 'injected failure (FAIL_RATE)', version, instance });
    return;
  }
  sendJson(res, 200, { service: 'hello', version, greeting, instance, pid: process.pid });
}

function handleHealth(res) {
  if (failHealth) return sendJson(res, 503, { ok: false, reason: 'FAIL_HEALTH=1 is set' });
  if (isDraining) return sendJson(res, 503, { ok: false, reason: 'draining' });
  return sendJson(res, 200, { ok: true });
}

/** `/events?n=N&ms=M`: an event stream of N events (at most 1000), one every M ms, each naming this version. */
function handleEvents(req, res) {
  const q = new URL(req.url ?? '/', 'http://x').searchParams;
  const n = Math.min(1000, Math.max(1, Number(q.get('n')) || 5));
  const everyMs = Math.min(60_000, Math.max(10, Number(q.get('ms')) || 500));
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
  let sent = 0;
  const tick = () => {
    res.write(`data: ${JSON.stringify({ version, instance, n: sent })}\n\n`);
    if (++sent >= n) return res.end();
    timer = setTimeout(tick, everyMs);
  };
  let timer = setTimeout(tick, 0);
  res.on('close', () => clearTimeout(timer));
}

const server = http.createServer((req, res) => {
  const startedAt = performance.now();
  inFlight += 1;
  res.on('close', () => {
    inFlight -= 1;
    if (logEveryRequest) {
      const ms = Math.round((performance.now() - startedAt) * 10) / 10;
      log('request', { method: req.method, path: req.url, status: res.statusCode, ms, instance });
    }
  });

  const path = (req.url ?? '/').split('?')[0];
  const isRead = req.method === 'GET' || req.method === 'HEAD';
  if (path === '/events' && isRead) return handleEvents(req, res);
  if (path === '/' || path === '/healthz') {
    if (!isRead) {
      res.setHeader('allow', 'GET, HEAD');
      return sendJson(res, 405, { error: `${req.method} is not allowed on ${path}` });
    }
    if (path === '/healthz') return handleHealth(res);
    handleRoot(res).catch((e) => sendJson(res, 500, { error: String(e) }));
    return;
  }
  sendJson(res, 404, { error: `no route for ${path}` });
});

// Longer than the router's pool idle timeout, so the router always closes an idle
// connection first and never sends a request down one we are closing.
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000; // must exceed keepAliveTimeout

server.on('error', (e) => fatal(`cannot listen on ${host}:${port}: ${e.message}`));

function shutdown(signal) {
  if (isDraining) return;
  isDraining = true;
  if (!server.listening) {
    log('stopped', { signal, reason: 'signalled before listening' });
    process.exit(0);
  }
  log('draining', { signal, inFlight });
  // close() stops accepting and waits for every connection to end; in-flight
  // requests finish (and close their connection, see sendJson), idle keep-alive
  // connections are closed now instead of after keepAliveTimeout.
  server.close(() => {
    log('stopped', { signal });
    process.exit(0);
  });
  server.closeIdleConnections();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

setTimeout(() => {
  if (isDraining) return;
  server.listen(port, host, () => {
    const address = server.address();
    log('listening', { host, port: address.port, version, instance, pid: process.pid });
  });
}, startDelayMs);
