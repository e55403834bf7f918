// The instance logs API: the newest records of an environment's instances,
// filtered by release, instance, time, text and level, and (follow=1) a stream of
// new records as NDJSON while the client stays. Log files are masked already, by
// each instance's log relay; what is sent is masked once more, as every answer is.

import { envNameOf } from '../core/env-key.ts';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { SlipwayError } from '../core/errors.ts';
import { parseDurationMs } from '../core/duration.ts';
import type { LogReads } from '../engine/read-models.ts';
import { LogFollower, readRecentLogs, type LogQuery, type LogSource } from '../observe/log-reader.ts';

import { envParam, logsQuery } from './schemas.ts';
import { parse } from './request-input.ts';
import type { LogsJson } from './views.ts';

const FOLLOW_POLL_MS = 200;
/** A follower whose client reads slower than this much is behind is cut off (it can ask again with --since). */
const MAX_UNSENT_BYTES = 4 * 1024 * 1024;

export interface LogsRouteOptions {
  logs: LogReads;
  redact: (text: string) => string;
}

/** `since` as epoch ms: a duration back from now (10m, 2h), an ISO time, or epoch milliseconds. */
export function parseSince(v: string, now: number): number {
  if (/^\d{10,}$/.test(v)) return Number(v);
  const ms = parseDurationMs(v);
  if (ms !== null) return now - ms;
  const t = Date.parse(v);
  if (Number.isFinite(t)) return t;
  throw new SlipwayError('E_BAD_REQUEST', `query: since: expected a duration such as 10m or 2h, an ISO time, or epoch milliseconds, got "${v.slice(0, 40)}"`, { field: 'since' });
}

export function registerLogsRoutes(app: FastifyInstance, o: LogsRouteOptions): void {
  app.get('/api/environments/:env/logs', { config: { permission: 'read', input: { params: envParam, query: logsQuery }, summary: 'instance log records, filtered (NDJSON stream with follow)' } }, async (req, reply) => {
    const { env } = parse(envParam, req.params, 'path');
    const q = parse(logsQuery, req.query, 'query');
    const sources = (): LogSource[] => o.logs.sources(env, 200)
      .filter((s) => (!q.instance || s.instance === q.instance) && (q.release === undefined || s.release === q.release))
      .map((s) => ({ env, ...s }));
    const first = sources();
    const cluster = first.length === 0 ? o.logs.kept(env) : null;
    if (cluster) {
      // The pods' output stays on the cluster: say where, rather than answer with nothing.
      throw new SlipwayError('E_BAD_REQUEST', `${env} runs on a Kubernetes cluster, which keeps its pods' output: kubectl logs -n ${cluster.namespace} -l slipway.dev/service=${cluster.service},slipway.dev/environment=${envNameOf(env)} --prefix`, { env });
    }
    if (q.instance && first.length === 0) throw new SlipwayError('E_NOT_FOUND', `no instance ${q.instance} in ${env}; see slipway status ${env}`, { env });
    const query: LogQuery = {
      limit: q.lines,
      ...(q.since !== undefined ? { sinceTs: parseSince(q.since, Date.now()) } : {}),
      ...(q.grep !== undefined ? { grep: q.grep } : {}),
      ...(q.level !== undefined ? { minLevel: q.level } : {}),
    };
    const follow = q.follow === '1' || q.follow === 'true';
    if (!follow) return { env, records: await readRecentLogs(first, query) } satisfies LogsJson;
    return streamLogs(reply, { sources, query, redact: o.redact });
  });
}

async function streamLogs(reply: FastifyReply, s: { sources: () => LogSource[]; query: LogQuery; redact: (t: string) => string }): Promise<FastifyReply> {
  const follower = new LogFollower(s.query);
  // Marked before the recent records are read: a line written in between is sent twice at worst, never lost.
  await follower.start(s.sources());
  const recent = await readRecentLogs(s.sources(), s.query);
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
  // Written raw, past the onSend hook: masked here.
  const send = (records: unknown[]) => {
    if (records.length === 0) return;
    raw.write(s.redact(records.map((r) => `${JSON.stringify(r)}\n`).join('')));
  };
  send(recent);
  let polling = false;
  const timer = setInterval(() => {
    if (polling) return;
    if (raw.writableLength > MAX_UNSENT_BYTES) {
      raw.destroy(); // a client that does not read must not grow the server's memory
      return;
    }
    polling = true;
    follower.poll(s.sources()).then(send, () => undefined).finally(() => (polling = false));
  }, FOLLOW_POLL_MS);
  // A comment line now and then lets the client (and proxies) see the stream is alive.
  const keepAlive = setInterval(() => raw.write('\n'), 15_000);
  raw.on('close', () => {
    clearInterval(timer);
    clearInterval(keepAlive);
  });
  return reply;
}


