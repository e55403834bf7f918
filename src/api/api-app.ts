// The HTTP API of the slipway server. Routes parse their input with the schemas in
// schemas.ts, call the engine, and map SlipwayError codes to statuses in one place.

import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { SlipwayError, isSlipwayError } from '../core/errors.ts';
import { isTerminal } from '../core/rollout.ts';
import { parseConfigText } from '../config/index.ts';
import type { Engine } from '../engine/engine.ts';
import { readModelsOf, type ReadModels } from '../engine/read-models.ts';
import { HTTP_STATUS } from './error-status.ts';
import { answerClientError, answerFrameworkError } from './framework-errors.ts';
import type { AccessControl } from '../security/api-tokens.ts';
import type { AuditTrail } from '../security/audit-trail.ts';
import { registerAuth } from './auth.ts';
import { releaseAnswers } from './release-answers.ts';
import { registerAuthRoutes } from './auth-routes.ts';
import { registerConfigRoutes } from './config-routes.ts';
import { registerLiveMetricsRoutes } from './live-metrics-routes.ts';
import { registerUiRoutes } from './ui-routes.ts';
import { openApiDocument } from './openapi.ts';
import { registerLogsRoutes } from './logs-routes.ts';
import { registerObserveRoutes } from './observe-routes.ts';
import { registerPipelineRoutes } from './pipeline-routes.ts';
import { registerCiRoutes } from './ci-routes.ts';
import { registerBlobRoutes } from './blob-routes.ts';
import { registerPolicyRoutes } from './policy-routes.ts';
import { registerTeardownRoutes } from './teardown-routes.ts';
import { registerTrafficRoutes } from './traffic-routes.ts';
import type {
  ArtefactUploadJson, DeployAnswerJson, EnvironmentStatus, EnvironmentsJson, MetricSamplesJson, ReleasesJson, RollbackAnswerJson, RolloutAnalysisJson, RolloutCommandJson, RolloutEventsJson, RolloutView, ShutdownJson,
} from './views.ts';
import './permissions.ts';
import { actorOf, parse, serviceOfUpload } from './request-input.ts';
import { requireTarGz } from './tar-gz-check.ts';
import { refuseUnknownQueryParameters } from './query-check.ts';
import {
  ARTEFACT_DIGEST_HEADER, deployBody, emptyBody, envParam, metricsQuery, promoteBody, eventsQuery, releasesQuery, rollbackBody, rolloutParam, shutdownBody,
} from './schemas.ts';

export interface ApiOptions {
  engine: Engine;
  /** What routes read of recorded state; default: the engine's (see engine/read-models.ts). Routes never get the store. */
  reads?: ReadModels;
  logger: Logger;
  info: () => Record<string, unknown>;
  onShutdown: (opts: { stopInstances: boolean; stopRouter: boolean }) => void;
  /** /readyz: whether the server can do its work now (state database, router), with each check's answer. */
  readiness?: () => Promise<{ ready: boolean; checks: Record<string, string> }>;
  /** Masks every secret value the server knows; applied to every answer. */
  redact?: (text: string) => string;
  access: AccessControl;
  audit: AuditTrail;
  /** This server's metrics registry (observe/metrics.ts ServerMetrics), for /metrics. */
  metrics: { render(): Promise<{ contentType: string; text: string }> };
  /** Failed authentications per client address per minute before it is refused (default 20). */
  authFailureLimit?: number;
  authFailureWindowMs?: number;
  version?: string;
}

const MAX_ARTEFACT_BYTES = 1024 * 1024 * 1024;

/**
 * Every answer's headers, unless its route sets its own (the dashboard's page does).
 * API answers echo values others wrote (a 404 quotes its path, a log line what an app
 * printed): opened in a browser, none may be sniffed into a page, run script, load
 * anything, be framed by another site, or hand its URL on in a Referer.
 */
const ANSWER_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

/**
 * The server's info as API clients see it: the router's pid, never its admin URL.
 * Only the server steers the router; its admin address is nobody else's business.
 */
function withoutRouterAdmin(info: Record<string, unknown>): Record<string, unknown> {
  const router = info.router;
  if (typeof router !== 'object' || router === null) return info;
  const { adminUrl: _hidden, ...rest } = router as Record<string, unknown>;
  return { ...info, router: rest };
}

export function buildApi(opts: ApiOptions): FastifyInstance {
  const { engine } = opts;
  const reads = opts.reads ?? readModelsOf(engine);
  const releases = releaseAnswers(reads);
  const app = Fastify({
    loggerInstance: opts.logger as FastifyBaseLogger, bodyLimit: 2 * 1024 * 1024,
    frameworkErrors: answerFrameworkError, clientErrorHandler: answerClientError,
    // Every API call's log lines carry its request id: the caller's X-Request-ID when it looks like one, else a new one.
    requestIdHeader: false,
    genReqId: (req) => {
      const h = req.headers['x-request-id'];
      return typeof h === 'string' && /^[\w.:-]{1,128}$/.test(h) ? h : randomUUID();
    },
  });
  // Set on the raw response, so streams written past Fastify (logs, events) carry them
  // too; a header the route sets itself (the dashboard's page policy) wins. Before the
  // auth hook, whose refusals end the request's hooks.
  app.addHook('onRequest', async (_req, reply) => {
    for (const [name, value] of Object.entries(ANSWER_HEADERS)) reply.raw.setHeader(name, value);
  });
  // First: every route registered after this is checked for a declared permission.
  const routes = registerAuth(app, { access: opts.access, audit: opts.audit, resolveEnv: (ref) => engine.resolveEnvironment(ref),
    ...(opts.authFailureLimit !== undefined ? { failureLimit: opts.authFailureLimit } : {}),
    ...(opts.authFailureWindowMs !== undefined ? { failureWindowMs: opts.authFailureWindowMs } : {}),
  });
  refuseUnknownQueryParameters(app);
  let openApi: unknown = null;

  // Artefacts stream straight to disk while being hashed; nothing buffers them whole.
  app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));

  app.setErrorHandler((err: unknown, req, reply) => {
    if (isSlipwayError(err)) {
      return reply.status(HTTP_STATUS[err.code]).send({ error: { code: err.code, message: err.message, details: err.details } });
    }
    const e = err as { statusCode?: number; message?: string; code?: string };
    if (err instanceof SyntaxError || e.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
      // JSON.parse's message quotes the body, which may be a secret being set. Fastify
      // drops the parser's reason, so both kinds of refusal are named.
      return reply.status(400).send({ error: { code: 'E_BAD_REQUEST', message: 'the request body is not valid JSON, or has a "__proto__" key (or "constructor" with "prototype"), which no field is named', details: {} } });
    }
    if (e.code === 'ENOSPC' || e.code === 'EDQUOT' || e.code === 'SQLITE_FULL') {
      req.log.error({ err }, 'the data directory\'s disk is full');
      return reply.status(507).send({ error: { code: 'E_DISK_FULL', message: 'the data directory\'s disk is full: nothing was changed; free space and retry', details: {} } });
    }
    if (e.statusCode && e.statusCode < 500) {
      return reply.status(e.statusCode).send({ error: { code: 'E_BAD_REQUEST', message: e.message ?? 'bad request', details: {} } });
    }
    req.log.error({ err }, 'request failed');
    return reply.status(500).send({ error: { code: 'E_INTERNAL', message: 'internal error; see the server log', details: {} } });
  });
  app.setNotFoundHandler((req, reply) => {
    reply.status(404).send({ error: { code: 'E_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}`, details: {} } });
  });

  // Last line of defence: a value that reached an answer anyway (an error quoting a
  // log line, say) leaves as ***.
  const redact = opts.redact;
  if (redact) app.addHook('onSend', async (_req, _reply, payload) => (typeof payload === 'string' ? redact(payload) : payload));

  app.get('/healthz', { config: { permission: 'public', summary: 'the server answers' } }, async () => ({ ok: true }));
  app.get('/readyz', { config: { permission: 'public', summary: 'the server can do its work now (state database, router), with each check' } }, async (_req, reply) => {
    const r = opts.readiness ? await opts.readiness() : { ready: true, checks: {} };
    return reply.status(r.ready ? 200 : 503).send(r);
  });
  app.get('/api/server', { config: { permission: 'read', summary: 'the server\'s pid, address, data directory and router' } }, async () => withoutRouterAdmin(opts.info()));

  app.post('/api/artefacts', { config: { permission: 'deploy', anyEnv: true, audit: 'artefact.upload', summary: 'upload an artefact (application/octet-stream; x-slipway-digest: sha256:…)' } }, async (req, reply) => {
    const digest = String(req.headers[ARTEFACT_DIGEST_HEADER] ?? '');
    // A token limited to other services may not upload (nor label an artefact) for this one.
    const service = serviceOfUpload(req, 'deploy', 'the service this artefact is for');
    const length = Number(req.headers['content-length'] ?? 0);
    if (length > MAX_ARTEFACT_BYTES) throw new SlipwayError('E_ARTEFACT_INVALID', `artefact of ${length} bytes is over the ${MAX_ARTEFACT_BYTES}-byte limit`);
    if (!req.body || typeof (req.body as Readable).pipe !== 'function') {
      throw new SlipwayError('E_BAD_REQUEST', 'send the artefact as the request body with content-type application/octet-stream');
    }
    req.auditNote = { target: digest, details: { service } };
    let record;
    try {
      record = await engine.receiveArtefact(requireTarGz(req.body as Readable), digest, service, actorOf(req.headers));
    } catch (e) {
      // The rest of a refused body is not read: the connection closes after the answer.
      reply.header('connection', 'close');
      throw e;
    }
    return reply.status(201).send({ digest: record.digest, bytes: record.bytes } satisfies ArtefactUploadJson);
  });

  app.post('/api/environments/:env/deploys', { config: { permission: 'deploy', audit: 'deploy', input: { params: envParam, body: deployBody }, summary: 'deploy an artefact with a config' } }, async (req, reply) => {
    const { env } = parse(envParam, req.params, 'path');
    const body = parse(deployBody, req.body, 'body');
    const config = parseConfigText(body.config.text, body.config.file);
    req.auditNote = { details: { artefact: body.artefact } };
    const answer = await engine.deploy({ env, artefactDigest: body.artefact, config, actor: actorOf(req.headers), force: body.force });
    req.auditNote = {
      target: `release ${answer.release.number}`,
      details: { artefact: answer.release.artefactDigest, configHash: answer.release.configHash, configVersion: answer.release.config.configVersion, rollout: answer.rollout?.id ?? null, unchanged: answer.unchanged },
    };
    return reply.status(answer.unchanged ? 200 : 202).send({
      unchanged: answer.unchanged,
      release: releases.view(answer.release),
      rollout: answer.rollout ? reads.rollouts.view(answer.rollout) : null,
    } satisfies DeployAnswerJson);
  });

  app.post('/api/environments/:env/rollback', { config: { permission: 'deploy', audit: 'rollback', input: { params: envParam, body: rollbackBody }, summary: 'roll back to the previous (or a given) release' } }, async (req, reply) => {
    const { env } = parse(envParam, req.params, 'path');
    const body = parse(rollbackBody, req.body, 'body');
    const answer = await engine.rollback({ env, ...(body.to !== undefined ? { to: body.to } : {}), actor: actorOf(req.headers) });
    req.auditNote = { target: `release ${answer.release.number}`, details: { artefact: answer.release.artefactDigest, rollout: answer.rollout.id } };
    return reply.status(202).send({ release: releases.view(answer.release), rollout: reads.rollouts.view(answer.rollout) } satisfies RollbackAnswerJson);
  });

  for (const action of ['pause', 'resume', 'promote', 'abort'] as const) {
    app.post(`/api/environments/:env/${action}`, { config: { permission: 'deploy', audit: `rollout.${action}`, input: { params: envParam, body: action === 'promote' ? promoteBody : emptyBody }, summary: `${action} the rollout in progress` } }, async (req, reply) => {
      const { env } = parse(envParam, req.params, 'path');
      const body = parse(action === 'promote' ? promoteBody : emptyBody, req.body, 'body');
      const by = actorOf(req.headers);
      const event = action === 'abort'
        ? { type: 'abort' as const, reason: `aborted by ${by}` }
        : action === 'promote'
          ? { type: 'promote' as const, by, full: (body as { full?: boolean }).full ?? false }
          : { type: action, by };
      const rollout = await engine.command(env, event);
      req.auditNote = { target: `rollout ${rollout.id}` };
      return reply.status(202).send({ rollout: reads.rollouts.view(rollout) } satisfies RolloutCommandJson);
    });
  }

  app.get('/api/environments', { config: { permission: 'read', summary: 'every environment\'s status' } }, async (): Promise<EnvironmentsJson> => ({ environments: engine.status() }));

  app.get('/api/environments/:env', { config: { permission: 'read', input: { params: envParam }, summary: 'one environment\'s status' } }, async (req): Promise<EnvironmentStatus | undefined> => {
    const { env } = parse(envParam, req.params, 'path');
    return engine.status(env)[0];
  });

  app.get('/api/environments/:env/releases', { config: { permission: 'read', input: { params: envParam, query: releasesQuery }, summary: 'a page of the releases of an environment, newest first' } }, async (req): Promise<ReleasesJson> => {
    const { env } = parse(envParam, req.params, 'path');
    return releases.list(env, parse(releasesQuery, req.query, 'query'));
  });

  app.get('/api/rollouts/:id', { config: { permission: 'read', input: { params: rolloutParam }, summary: 'one rollout' } }, async (req): Promise<RolloutView> => {
    const { id } = parse(rolloutParam, req.params, 'path');
    return reads.rollouts.view(mustRollout(reads, id));
  });

  app.get('/api/rollouts/:id/analysis', { config: { permission: 'read', input: { params: rolloutParam }, summary: 'the latest analysis of a rollout' } }, async (req): Promise<RolloutAnalysisJson> => {
    const { id } = parse(rolloutParam, req.params, 'path');
    const r = mustRollout(reads, id);
    return { rollout: r.id, phase: r.phase, analysis: engine.analysis.latestResult(r.id) };
  });

  app.get('/api/environments/:env/metrics', { config: { permission: 'read', input: { params: envParam, query: metricsQuery }, summary: 'per-release metric samples' } }, async (req): Promise<MetricSamplesJson> => {
    const { env } = parse(envParam, req.params, 'path');
    const q = parse(metricsQuery, req.query, 'query');
    return { env, samples: reads.environments.metricSamples(env, q.since ?? Date.now() - 3600_000) };
  });

  app.get('/api/rollouts/:id/events', { config: { permission: 'read', input: { params: rolloutParam, query: eventsQuery }, summary: 'a rollout\'s events (long poll)' } }, async (req): Promise<RolloutEventsJson> => {
    const { id } = parse(rolloutParam, req.params, 'path');
    const q = parse(eventsQuery, req.query, 'query');
    mustRollout(reads, id);
    // Long poll: answer as soon as there is news, or after `wait` ms with nothing.
    const deadline = Date.now() + q.wait;
    let events = reads.rollouts.events(id, q.after);
    while (events.length === 0 && Date.now() < deadline && !isTerminal(mustRollout(reads, id).phase)) {
      await new Promise((r) => setTimeout(r, 100));
      events = reads.rollouts.events(id, q.after);
    }
    return { rollout: reads.rollouts.view(mustRollout(reads, id)), events };
  });

  registerConfigRoutes(app, { engine, reads, releases });
  registerPolicyRoutes(app, engine);
  registerTrafficRoutes(app, engine);
  registerLogsRoutes(app, { logs: reads.logs, redact: redact ?? ((t) => t) });
  registerObserveRoutes(app, { engine, reads, metrics: opts.metrics, redact: redact ?? ((t) => t) });
  registerLiveMetricsRoutes(app, engine);
  registerUiRoutes(app);
  registerAuthRoutes(app, { access: opts.access, audit: opts.audit, openApi: () => (openApi ??= openApiDocument(routes, opts.version ?? '0.0.0')) });
  registerPipelineRoutes(app, { engine, reads });
  registerTeardownRoutes(app, engine);
  registerCiRoutes(app, { engine });
  registerBlobRoutes(app, engine);

  app.post('/api/shutdown', { config: { permission: 'admin', audit: 'server.shutdown', input: { body: shutdownBody }, summary: 'stop the server (and optionally its instances and router)' } }, async (req, reply) => {
    const body = parse(shutdownBody, req.body, 'body');
    reply.send({ ok: true } satisfies ShutdownJson);
    setImmediate(() => opts.onShutdown(body));
  });

  return app;
}

function mustRollout(reads: ReadModels, id: number) {
  const r = reads.rollouts.get(id);
  if (!r) throw new SlipwayError('E_NOT_FOUND', `no rollout #${id}`);
  return r;
}
