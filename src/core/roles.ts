// Who may do what. A token holds one role; a role grants permissions; a token may be
// limited to some environments, where its role applies — elsewhere it can only read.
// An entry `shop/*` stands for every environment of service shop: how a CI token is
// limited to the services it may release.

import { envNameOf, splitEnvKey } from './env-key.ts';

export const ROLES = ['viewer', 'deployer', 'approver', 'admin', 'ci'] as const;
export type Role = (typeof ROLES)[number];

/**
 * What a route needs ('public' needs no token at all). Mirrors api/permissions.ts.
 * release: upload an artefact built elsewhere and start a pipeline run of it, which
 * then goes through staging, approval and production's gates; never a deploy of its own.
 */
export type Grant = 'read' | 'deploy' | 'approve' | 'admin' | 'release';

const GRANTS: Record<Role, readonly Grant[]> = {
  viewer: ['read'],
  deployer: ['read', 'deploy', 'release'],
  approver: ['read', 'approve'],
  admin: ['read', 'deploy', 'approve', 'admin', 'release'],
  // A CI job: starts release runs of its services, nothing else (no deploy, no approval).
  ci: ['read', 'release'],
};

/** The entry of a token's environments that stands for every environment of a service. */
export function serviceScope(service: string): string {
  return `${service}/*`;
}

/** The services a token is limited to by `<service>/*` entries. */
export function scopedServices(envs: string[] | null): string[] {
  return (envs ?? []).filter((e) => e.endsWith('/*')).map((e) => e.slice(0, -2));
}

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
    const service = splitEnvKey(env).service;
    return who.envs.includes(env) || who.envs.includes(envNameOf(env)) || (service !== null && who.envs.includes(serviceScope(service)))
      ? { allowed: true }
      : { allowed: false, reason: `needs the "${grant}" permission in ${env}; this token's role applies only in ${who.envs.join(', ')}` };
  }
  if (anyEnv && who.envs.length > 0) return { allowed: true };
  return { allowed: false, reason: `needs the "${grant}" permission in every environment; this token's role applies only in ${who.envs.join(', ')}` };
}

export function rolesWith(grant: Grant): Role[] {
  return ROLES.filter((r) => GRANTS[r].includes(grant));
}

/**
 * May `who` use `grant` for service `service` at all, outside any one environment (a
 * release's artefact for a run; a deploy's file blobs)? A token limited to
 * environments needs one of that service's (`shop/*`, `shop/staging`) or a bare name,
 * which holds in every service.
 */
export function mayActForService(who: Identity, grant: 'deploy' | 'release', service: string): AccessAnswer {
  if (!GRANTS[who.role].includes(grant)) {
    return { allowed: false, reason: `needs the "${grant}" permission, which role ${who.role} does not have (roles with it: ${rolesWith(grant).join(', ')})` };
  }
  if (who.envs === null || who.envs.some((e) => !e.includes('/') || e.startsWith(`${service}/`))) return { allowed: true };
  return { allowed: false, reason: `needs the "${grant}" permission for service ${service}; this token's role applies only in ${who.envs.join(', ')}` };
}

/** May `who` release service `service` (upload its artefact for a run)? */
export function mayReleaseService(who: Identity, service: string): AccessAnswer {
  return mayActForService(who, 'release', service);
}
