// What each API route needs. Every route declares one permission in its options
// (`{ config: { permission: 'deploy' } }`); the auth hook checks it in one place and
// a route registered without one is refused at start-up.

export const PERMISSIONS = ['public', 'read', 'deploy', 'approve', 'admin'] as const;
export type Permission = (typeof PERMISSIONS)[number];

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What a caller must hold to use this route; see src/api/permissions.ts. */
    permission?: Permission;
  }
}

export function isPermission(v: unknown): v is Permission {
  return typeof v === 'string' && (PERMISSIONS as readonly string[]).includes(v);
}
