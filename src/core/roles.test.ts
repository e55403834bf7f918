import { describe, expect, it } from 'vitest';
import { grantsOf, isRole, mayAccess, mayActForService, mayReleaseService, rolesWith, scopedServices, serviceScope, type Identity, type Role } from './roles.ts';

const who = (role: Role, envs: string[] | null = null): Identity => ({ user: 'u', role, envs, tokenId: 't' });

describe('mayAccess', () => {
  it('an approver may approve but may not deploy, anywhere', () => {
    expect(mayAccess(who('approver'), 'approve', 'production').allowed).toBe(true);
    expect(mayAccess(who('approver'), 'deploy', 'production').allowed).toBe(false);
    expect(mayAccess(who('approver'), 'deploy', undefined, true).allowed).toBe(false);
  });

  it('a deployer may deploy but may not approve its own release', () => {
    expect(mayAccess(who('deployer'), 'deploy', 'production').allowed).toBe(true);
    expect(mayAccess(who('deployer'), 'approve', 'production').allowed).toBe(false);
  });

  it('only deployers and admins hold deploy; only approvers and admins hold approve', () => {
    expect(rolesWith('deploy')).toEqual(['deployer', 'admin']);
    expect(rolesWith('approve')).toEqual(['approver', 'admin']);
    expect(rolesWith('admin')).toEqual(['admin']);
  });

  it('a token limited to staging deploys there and nowhere else', () => {
    const t = who('deployer', ['staging']);
    expect(mayAccess(t, 'deploy', 'staging').allowed).toBe(true);
    expect(mayAccess(t, 'deploy', 'production').allowed).toBe(false);
    expect(mayAccess(t, 'deploy', undefined, true).allowed).toBe(true);
    expect(mayAccess(t, 'deploy', undefined).allowed).toBe(false);
    expect(mayAccess(t, 'read', 'production').allowed).toBe(true);
  });

  it('a token limited to an empty list of environments holds its role nowhere', () => {
    const t = who('deployer', []);
    expect(mayAccess(t, 'deploy', undefined, true).allowed).toBe(false);
    expect(mayAccess(t, 'deploy', 'staging').allowed).toBe(false);
  });

  it('every role may read, anywhere, whatever its environments', () => {
    for (const role of ['viewer', 'deployer', 'approver', 'admin', 'ci'] as const) {
      expect(grantsOf(role)).toContain('read');
      expect(mayAccess(who(role, []), 'read', 'production').allowed).toBe(true);
    }
    expect(rolesWith('read')).toEqual(['viewer', 'deployer', 'approver', 'admin', 'ci']);
    expect(grantsOf('viewer')).toEqual(['read']);
  });

  it('a refusal says which permission, which role, and where the token applies', () => {
    expect(mayAccess(who('viewer'), 'deploy', 'production')).toEqual({ allowed: false, reason: 'needs the "deploy" permission, which role viewer does not have (roles with it: deployer, admin)' });
    expect(mayAccess(who('deployer', ['staging', 'qa']), 'deploy', 'production')).toEqual({ allowed: false, reason: 'needs the "deploy" permission in production; this token\'s role applies only in staging, qa' });
    expect(mayAccess(who('deployer', ['staging', 'qa']), 'deploy', undefined)).toEqual({ allowed: false, reason: 'needs the "deploy" permission in every environment; this token\'s role applies only in staging, qa' });
  });
});

describe('a ci token', () => {
  const ci = who('ci', [serviceScope('shop')]);

  it('starts release runs in every environment of its service, and nowhere else', () => {
    expect(mayAccess(ci, 'release', 'shop/staging').allowed).toBe(true);
    expect(mayAccess(ci, 'release', 'shop/production').allowed).toBe(true);
    expect(mayAccess(ci, 'release', 'blog/production')).toEqual({ allowed: false, reason: 'needs the "release" permission in blog/production; this token\'s role applies only in shop/*' });
    expect(mayReleaseService(ci, 'shop').allowed).toBe(true);
    expect(mayReleaseService(ci, 'blog').allowed).toBe(false);
  });

  it('may neither deploy nor approve, even in its own service', () => {
    expect(mayAccess(ci, 'deploy', 'shop/staging').allowed).toBe(false);
    expect(mayAccess(ci, 'approve', 'shop/production').allowed).toBe(false);
    expect(mayAccess(ci, 'admin', undefined).allowed).toBe(false);
  });

  it('release belongs to deployers, admins and ci tokens; an approver cannot upload for a run', () => {
    expect(rolesWith('release')).toEqual(['deployer', 'admin', 'ci']);
    expect(mayReleaseService(who('approver'), 'shop')).toMatchObject({ allowed: false });
    expect(mayReleaseService(who('deployer', ['staging']), 'shop').allowed).toBe(true);
    expect(mayReleaseService(who('deployer', ['blog/staging']), 'shop').allowed).toBe(false);
    expect(scopedServices(['shop/*', 'staging', 'blog/*'])).toEqual(['shop', 'blog']);
  });
});

describe('deploying for a service outside any one environment (a deploy\'s file blobs)', () => {
  it('needs deploy for that service: one of its environments, or a bare environment name', () => {
    expect(mayActForService(who('deployer', [serviceScope('shop')]), 'deploy', 'shop').allowed).toBe(true);
    expect(mayActForService(who('deployer', ['shop/staging']), 'deploy', 'shop').allowed).toBe(true);
    expect(mayActForService(who('deployer', ['staging']), 'deploy', 'blog').allowed).toBe(true);
    expect(mayActForService(who('deployer', [serviceScope('shop')]), 'deploy', 'blog')).toEqual({ allowed: false, reason: 'needs the "deploy" permission for service blog; this token\'s role applies only in shop/*' });
    expect(mayActForService(who('deployer'), 'deploy', 'blog').allowed).toBe(true);
    // A ci token releases; it never deploys, so it cannot send blobs either.
    expect(mayActForService(who('ci', [serviceScope('shop')]), 'deploy', 'shop')).toMatchObject({ allowed: false });
  });
});

describe('isRole', () => {
  it('knows the five roles and nothing else', () => {
    expect(['viewer', 'deployer', 'approver', 'admin', 'ci'].every(isRole)).toBe(true);
    expect([undefined, null, 3, 'root', '', ['admin']].some(isRole)).toBe(false);
  });
});

