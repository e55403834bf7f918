// A query parameter a route does not take is refused before the route runs, named,
// with the ones the route does take: `?limt=5` is a typo the caller wants to hear
// about, not a default of 30 runs, and `?limit=5` on a route that lists everything
// is not a limit. The parameters a route takes are its declared query schema's keys
// (`config.input.query`, which /api/openapi.json shows too); none declared, none taken.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { suggestKey } from '../config/did-you-mean.ts';
import { SlipwayError } from '../core/errors.ts';

/** The keys a query schema takes; every query schema is a (strict) object. */
function acceptedKeys(schema: z.ZodType | undefined): string[] {
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}

/**
 * An API route that declares no query schema takes no parameter at all. The pages
 * and probes outside /api/ (the dashboard, /healthz, /metrics) are left alone. The
 * per-route parse still checks the values.
 */
export function unknownQueryParameter(req: FastifyRequest): SlipwayError | null {
  const schema = req.routeOptions.config.input?.query;
  if (!schema && !req.routeOptions.url?.startsWith('/api/')) return null;
  const accepted = acceptedKeys(schema);
  const unknown = Object.keys((req.query ?? {}) as Record<string, unknown>).find((k) => !accepted.includes(k));
  if (unknown === undefined) return null;
  const shown = unknown.slice(0, 60);
  const suggestion = suggestKey(unknown, accepted);
  const hint = suggestion !== null ? ` (did you mean "${suggestion}"?)` : '';
  return new SlipwayError('E_BAD_REQUEST', `query: unknown parameter "${shown}"${hint}; ${req.method} ${req.routeOptions.url} ${accepted.length ? `takes: ${accepted.join(', ')}` : 'takes no query parameters'}`, { field: shown, accepted });
}

export function refuseUnknownQueryParameters(app: FastifyInstance): void {
  app.addHook('preValidation', async (req) => {
    const problem = unknownQueryParameter(req);
    if (problem) throw problem;
  });
}
