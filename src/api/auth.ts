// Authentication, authorisation and the audit entry of every mutating request, in
// one place for every route. A route declares what it needs (permissions.ts); a
// route that declares nothing stops the server from starting.

import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { ENV_REFERENCE_PATTERN } from '../core/env-key.ts';
import { isSlipwayError, SlipwayError } from '../core/errors.ts';
import { mayAccess, type Grant } from '../core/roles.ts';
import type { AccessControl } from '../security/api-tokens.ts';
import type { AuditTrail } from '../security/audit-trail.ts';
import { HTTP_STATUS } from './error-status.ts';
import { isPermission, type Permission, type RouteInput } from './permissions.ts';
import { ACTOR_HEADER } from './schemas.ts';

export interface AuthOptions {
  access: AccessControl;
  audit: AuditTrail;
  /** Failed authentications one client address may make per window before it is refused for the rest of it. */
  failureLimit?: number;
  failureWindowMs?: number;
  /** An environment as a path names it (`production`, `shop/production`) to its key; throws E_ENV_AMBIGUOUS. */
  resolveEnv?: (ref: string) => string;
}

export interface DeclaredRoute {
  method: string;
  url: string;
  permission: Permission;
  input: RouteInput;
  summary: string | undefined;
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function refuse(reply: FastifyReply, code: 'E_UNAUTHENTICATED' | 'E_FORBIDDEN' | 'E_RATE_LIMITED', message: string, details: Record<string, unknown> = {}) {
  return reply.status(HTTP_STATUS[code]).send({ error: { code, message, details } });
}

/** Counts failed authentications per client address in a fixed window. Bounded: old windows are dropped. */
class FailureThrottle {
  private readonly windows = new Map<string, { start: number; count: number }>();
  constructor(private readonly limit: number, private readonly windowMs: number) {}

  blockedFor(ip: string, now: number): number {
    const w = this.windows.get(ip);
    if (!w || now - w.start >= this.windowMs) return 0;
    return w.count >= this.limit ? w.start + this.windowMs - now : 0;
  }

  fail(ip: string, now: number): void {
    const w = this.windows.get(ip);
    if (!w || now - w.start >= this.windowMs) {
      if (this.windows.size >= 10_000) this.prune(now);
      this.windows.set(ip, { start: now, count: 1 });
    } else w.count++;
  }

  private prune(now: number): void {
    for (const [ip, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(ip);
    if (this.windows.size >= 10_000) this.windows.clear();
  }
}

/** Registers the hooks; returns the list of declared routes (filled as routes are added). */
export function registerAuth(app: FastifyInstance, opts: AuthOptions): DeclaredRoute[] {
  const routes: DeclaredRoute[] = [];
  const throttle = new FailureThrottle(opts.failureLimit ?? 20, opts.failureWindowMs ?? 60_000);

  // Every answer still being sent (log follows, event streams, long polls), by the
  // token that opened it: a revoked or expired token's end at once, not when the
  // client hangs up.
  const open = new Map<string, Set<ServerResponse>>();
  const endAll = (tokenId: string) => {
    // Only answers already streaming: a request still being answered (the revoke
    // itself, when a token revokes itself) finishes as it would have.
    for (const res of open.get(tokenId) ?? []) if (res.headersSent) res.destroy();
  };
  opts.access.onRevoked?.((tokenId) => endAll(tokenId));
  const expiryCheck = setInterval(() => {
    for (const tokenId of [...open.keys()]) if (opts.access.isActive && !opts.access.isActive(tokenId)) endAll(tokenId);
  }, 1000);
  expiryCheck.unref();
  app.addHook('onClose', async () => clearInterval(expiryCheck));

  app.addHook('onRoute', (route: RouteOptions) => {
    const cfg = (route.config ?? {}) as { permission?: unknown; input?: RouteInput; summary?: string };
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (!isPermission(cfg.permission)) {
      throw new Error(`route ${methods.join(',')} ${route.url} declares no permission: add { config: { permission: … } } (src/api/permissions.ts)`);
    }
    for (const m of methods) {
      if (m === 'HEAD') continue;
      routes.push({ method: m, url: route.url, permission: cfg.permission, input: cfg.input ?? {}, summary: cfg.summary });
    }
  });

  app.addHook('onRequest', async (req, reply) => {
    const cfg = req.routeOptions.config;
    // No route matched: the not-found handler answers.
    if (!cfg.permission) return;
    // The actor is whoever the token belongs to; a client's own claim is never believed.
    delete req.headers[ACTOR_HEADER];
    reply.header('x-request-id', req.id);
    if (cfg.permission === 'public') return;
    const now = Date.now();
    const header = req.headers.authorization;
    const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    const answer = header ? opts.access.authenticate(m?.[1] ?? '') : null;
    // Only failing attempts are throttled: a valid token is always let in, so one
    // local process sending bad tokens cannot lock every other client (admin
    // included) out of the shared loopback address. A 256-bit secret is not
    // guessed; the throttle keeps a confused or hostile client from filling the log.
    if (!answer?.ok) {
      const wait = throttle.blockedFor(req.ip, now);
      if (wait > 0) {
        reply.header('retry-after', String(Math.ceil(wait / 1000)));
        return refuse(reply, 'E_RATE_LIMITED', `too many failed authentications from ${req.ip}; try again in ${Math.ceil(wait / 1000)} s (a valid token is not held back)`);
      }
    }
    if (!answer) {
      return refuse(reply, 'E_UNAUTHENTICATED', 'this request needs an API token: send "Authorization: Bearer <token>" (the CLI reads --token, $SLIPWAY_TOKEN or admin.token in the data directory)');
    }
    if (!answer.ok) {
      throttle.fail(req.ip, now);
      const why = { malformed: 'is not a slipway token', unknown: 'is not valid', revoked: 'was revoked', expired: 'has expired' }[answer.reason];
      return refuse(reply, 'E_UNAUTHENTICATED', `the API token ${why}`, { reason: answer.reason });
    }
    const who = answer.identity;
    req.identity = who;
    const res = reply.raw;
    const mine = open.get(who.tokenId) ?? new Set<ServerResponse>();
    open.set(who.tokenId, mine.add(res));
    res.once('close', () => {
      mine.delete(res);
      if (mine.size === 0 && open.get(who.tokenId) === mine) open.delete(who.tokenId);
    });
    req.headers[ACTOR_HEADER] = who.user;
    // `production` in a path means the one service's production, when only one has
    // one; from here on the route (and the permission check) sees the key.
    const params = req.params as Record<string, unknown> | undefined;
    if (opts.resolveEnv && params && typeof params.env === 'string' && ENV_REFERENCE_PATTERN.test(params.env)) {
      try {
        params.env = opts.resolveEnv(params.env);
      } catch (e) {
        if (!isSlipwayError(e)) throw e;
        return reply.status(HTTP_STATUS[e.code]).send({ error: { code: e.code, message: e.message, details: e.details } });
      }
    }
    const env = envOf(req);
    const access = mayAccess(who, cfg.permission as Grant, env, cfg.anyEnv ?? false);
    if (!access.allowed) {
      return refuse(reply, 'E_FORBIDDEN', `${who.user} (${who.role}) may not ${req.method} ${req.routeOptions.url}: ${access.reason}`, {
        permission: cfg.permission, role: who.role, ...(env !== undefined ? { env } : {}),
      });
    }
  });

  app.addHook('onResponse', async (req, reply) => {
    const cfg = req.routeOptions.config;
    if (!cfg.permission || cfg.permission === 'public' || cfg.audit === false || !req.identity || !MUTATING.has(req.method)) return;
    const status = reply.statusCode;
    const note = req.auditNote ?? {};
    try {
      opts.audit.append({
        actor: req.identity.user,
        action: cfg.audit ?? `${req.method} ${req.routeOptions.url}`,
        env: note.env ?? envOf(req) ?? null,
        target: note.target ?? null,
        requestId: req.id,
        outcome: status < 400 ? 'ok' : status === 403 ? 'denied' : status < 500 ? 'refused' : 'error',
        details: { status, ...(note.details ?? {}) },
      });
    } catch (e) {
      req.log.error({ err: (e as Error).message }, 'could not write the audit entry');
    }
  });

  return routes;
}

function envOf(req: FastifyRequest): string | undefined {
  const p = req.params as Record<string, unknown> | undefined;
  if (p && typeof p.env === 'string') return p.env;
  try {
    return req.routeOptions.config.envOf?.(req);
  } catch (e) {
    if (e instanceof SlipwayError) return undefined;
    throw e;
  }
}
