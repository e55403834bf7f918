// Reading a request's input: every part (path, query, body) parsed with its
// schema, a refusal naming the field; and who is asking.

import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { SERVICE_NAME_PATTERN } from '../core/env-key.ts';
import { SlipwayError } from '../core/errors.ts';
import { mayActForService } from '../core/roles.ts';
import { ACTOR_HEADER, ARTEFACT_SERVICE_HEADER } from './schemas.ts';

export function parse<T extends z.ZodType>(schema: T, value: unknown, where: string): z.output<T> {
  // No body at all is an empty one; a body of JSON `null` is a wrong value, refused as
  // any other: read as {} it took an environment down or stopped the server.
  const r = schema.safeParse(value === undefined ? {} : value);
  if (r.success) return r.data;
  const first = r.error.issues[0]!;
  const field = first.path.length ? first.path.join('.') : where;
  throw new SlipwayError('E_BAD_REQUEST', `${where}: ${field}: ${first.message}`, { field, issues: r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) });
}

export function actorOf(headers: Record<string, unknown>): string {
  const a = headers[ACTOR_HEADER];
  return typeof a === 'string' && /^[\w.@-]{1,64}$/.test(a) ? a : 'anonymous';
}


/**
 * Refuses (E_FORBIDDEN) a request about service `service` from a token whose role
 * does not hold `grant` for it: what a route reachable from any environment checks
 * once it knows the service. No token (auth off): allowed.
 */
export function assertMayActForService(req: FastifyRequest, grant: 'deploy' | 'release', service: string, details: Record<string, unknown> = {}): void {
  const who = req.identity;
  if (!who) return;
  const access = mayActForService(who, grant, service);
  if (access.allowed) return;
  throw new SlipwayError('E_FORBIDDEN', `${who.user} (${who.role}) may not ${req.method} ${req.routeOptions.url}: ${access.reason}`, { permission: grant, role: who.role, service, ...details });
}

/**
 * The service a streamed upload is for, from its `x-slipway-service` header: it
 * must name one (400 otherwise, saying what the header is for: `what`), and the
 * token must hold `grant` for it (403).
 */
export function serviceOfUpload(req: FastifyRequest, grant: 'deploy' | 'release', what: string): string {
  const service = String(req.headers[ARTEFACT_SERVICE_HEADER] ?? '');
  if (!SERVICE_NAME_PATTERN.test(service)) throw new SlipwayError('E_BAD_REQUEST', `header ${ARTEFACT_SERVICE_HEADER}: name ${what} (as slipway.yaml's service:), got "${service.slice(0, 64)}"`, { field: ARTEFACT_SERVICE_HEADER });
  assertMayActForService(req, grant, service);
  return service;
}
