// Tokens, the audit log and "who am I". Token secrets leave the server once, in the
// answer that creates them; lists show ids, users, roles and dates.

import type { FastifyInstance } from 'fastify';
import { SlipwayError } from '../core/errors.ts';
import { serviceScope, type Identity } from '../core/roles.ts';
import type { AccessControl } from '../security/api-tokens.ts';
import type { AuditTrail } from '../security/audit-trail.ts';
import { CI_TOKEN_MAX_LIFETIME_MS, auditQuery, tokenCreateBody, tokenParam } from './auth-schemas.ts';
import { actorOf, parse } from './request-input.ts';
import { emptyBody } from './schemas.ts';

type TokenRecord = ReturnType<AccessControl['list']>[number];

export function tokenView(t: TokenRecord, now = Date.now()) {
  const status = t.revokedAt !== null ? 'revoked' : t.expiresAt !== null && t.expiresAt <= now ? 'expired' : 'active';
  return {
    id: t.id, user: t.user, role: t.role, envs: t.envs, status, createdAt: t.createdAt, createdBy: t.createdBy,
    expiresAt: t.expiresAt, revokedAt: t.revokedAt, revokedBy: t.revokedBy, lastUsedAt: t.lastUsedAt,
  };
}
export type TokenView = ReturnType<typeof tokenView>;

/** Who a token says its holder is. */
export function whoamiView(who: Identity) {
  return { user: who.user, role: who.role, envs: who.envs, tokenId: who.tokenId };
}

export function registerAuthRoutes(app: FastifyInstance, o: { access: AccessControl; audit: AuditTrail; openApi: () => unknown }): void {
  app.get('/api/openapi.json', { config: { permission: 'public', summary: 'this API\'s OpenAPI 3.1 description' } }, async () => o.openApi());

  app.get('/api/whoami', { config: { permission: 'read', summary: 'the user, role and environments of the token sent' } }, async (req) => {
    return whoamiView(req.identity!);
  });

  app.get('/api/tokens', { config: { permission: 'admin', summary: 'every token (never their secrets)' } }, async () => ({ tokens: o.access.list().map((t) => tokenView(t)) }));

  app.post('/api/tokens', { config: { permission: 'admin', audit: 'token.create', input: { body: tokenCreateBody }, summary: 'make a token; its secret is in this answer only' } }, async (req, reply) => {
    const body = parse(tokenCreateBody, req.body, 'body');
    if (body.expiresAt !== undefined && body.expiresAt <= Date.now()) throw new SlipwayError('E_BAD_REQUEST', 'body: expiresAt: the expiry is in the past', { field: 'expiresAt' });
    if (body.role === 'ci' && body.expiresAt! > Date.now() + CI_TOKEN_MAX_LIFETIME_MS) {
      throw new SlipwayError('E_BAD_REQUEST', `body: expiresAt: a ci token lives at most ${CI_TOKEN_MAX_LIFETIME_MS / 86_400_000} days; make a new one before it expires`, { field: 'expiresAt' });
    }
    const envs = body.envs || body.services ? [...(body.envs ?? []), ...(body.services ?? []).map(serviceScope)] : null;
    const t = o.access.create({ user: body.user, role: body.role, envs, expiresAt: body.expiresAt ?? null, by: actorOf(req.headers) });
    req.auditNote = { target: `token ${t.record.id}`, details: { user: t.record.user, role: t.record.role, envs: t.record.envs, expiresAt: t.record.expiresAt } };
    return reply.status(201).send({ token: t.token, ...tokenView(t.record) });
  });

  app.post('/api/tokens/:id/revoke', { config: { permission: 'admin', audit: 'token.revoke', input: { params: tokenParam, body: emptyBody }, summary: 'revoke a token at once' } }, async (req) => {
    const { id } = parse(tokenParam, req.params, 'path');
    parse(emptyBody, req.body, 'body');
    req.auditNote = { target: `token ${id}` };
    const t = o.access.revoke(id, actorOf(req.headers));
    req.auditNote.details = { user: t.user, role: t.role };
    return tokenView(t);
  });

  app.get('/api/audit', { config: { permission: 'read', input: { query: auditQuery }, summary: 'audit entries, oldest first' } }, async (req) => {
    const q = parse(auditQuery, req.query, 'query');
    return { entries: o.audit.list({ env: q.env, actor: q.actor, action: q.action, since: q.since, afterSeq: q.after, limit: q.limit }) };
  });

  app.get('/api/audit/verify', { config: { permission: 'read', summary: 'recompute the audit chain and check the signed checkpoint' } }, async () => o.audit.verify());
}
