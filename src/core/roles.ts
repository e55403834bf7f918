// Who may do what. A token holds one role; a role grants permissions; a token may be
// limited to some environments, where its role applies — elsewhere it can only read.

import { envNameOf } from './env-key.ts';

export const ROLES = ['viewer', 'deployer', 'approver', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** What a route needs ('public' needs no token at all). Mirrors api/permissions.ts. */
export type Grant = 'read' | 'deploy' | 'approve' | 'admin';

const GRANTS: Record<Role, readonly Grant[]> = {
  viewer: ['read'],
  deployer: ['read', 'deploy'],
  approver: ['read', 'approve'],
  admin: ['read', 'deploy', 'approve', 'admin'],
};

export function isRole(v: unknown): v is Role {
  return typeof v === 'string' && (ROLES as readonly string[]).includes(v);
}

export function grantsOf(role: Role): readonly Grant[] {
  return GRANTS[role];
}

export interface Identity {
  user: string;
  role: Role;
  /** null: the role applies in every environment. */
  envs: string[] | null;
  tokenId: string;
}

export type AccessAnswer = { allowed: true } | { allowed: false; reason: string };

/**
 * May `who` use a route needing `grant`, in environment `env`?
 * env undefined: the route concerns no single environment (tokens, server shutdown,
 * an artefact upload). `anyEnv` routes then need the role in at least one
 * environment; the others need it in all of them.
 */
export function mayAccess(who: Identity, grant: Grant, env: string | undefined, anyEnv = false): AccessAnswer {
  if (grant === 'read') return { allowed: true };
  if (!GRANTS[who.role].includes(grant)) {
    return { allowed: false, reason: `needs the "${grant}" permission, which role ${who.role} does not have (roles with it: ${rolesWith(grant).join(', ')})` };
  }
  if (who.envs === null) return { allowed: true };
  if (env !== undefined) {
    // A token's entry `production` holds in every service's production; `shop/production` in that one only.
    return who.envs.includes(env) || who.envs.includes(envNameOf(env))
      ? { allowed: true }
      : { allowed: false, reason: `needs the "${grant}" permission in ${env}; this token's role applies only in ${who.envs.join(', ')}` };
  }
  if (anyEnv && who.envs.length > 0) return { allowed: true };
  return { allowed: false, reason: `needs the "${grant}" permission in every environment; this token's role applies only in ${who.envs.join(', ')}` };
}

export function rolesWith(grant: Grant): Role[] {
  return ROLES.filter((r) => GRANTS[r].includes(grant));
}
