// What each API route needs. Every route declares one permission in its options
// (`{ config: { permission: 'deploy' } }`); the auth hook (auth.ts) checks it in one
// place, and a route registered without one stops the server from starting.

import type { FastifyRequest } from 'fastify';
import type { z } from 'zod';

export const PERMISSIONS = ['public', 'read', 'deploy', 'approve', 'admin', 'release'] as const;
export type Permission = (typeof PERMISSIONS)[number];

export interface RouteInput {
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What a caller must hold to use this route; see src/api/permissions.ts. */
    permission?: Permission;
    /**
     * The environment a route without an :env parameter acts on (a pipeline run's,
     * say); undefined when it concerns none. Checked against the token's environments.
     */
    envOf?: (req: FastifyRequest) => string | undefined;
    /** With no environment: the role in any one environment is enough (an artefact upload). */
    anyEnv?: boolean;
    /** The audit log's name for this action; mutating routes default to "METHOD /path". false: not audited (a dry run). */
    audit?: string | false;
    /** The schemas the handler parses its input with: the OpenAPI document is made from them. */
    input?: RouteInput;
    /** One line for the API description. */
    summary?: string;
  }
  interface FastifyRequest {
    /** Who is asking, once the auth hook has checked their token. */
    identity?: import('../core/roles.ts').Identity;
    /** What a mutating route acted on, for its audit entry (names only, never secret values). */
    auditNote?: { target?: string; env?: string; details?: Record<string, unknown> };
  }
}

export function isPermission(v: unknown): v is Permission {
  return typeof v === 'string' && (PERMISSIONS as readonly string[]).includes(v);
}
