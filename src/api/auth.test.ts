import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { registerAuth } from './auth.ts';
import type { AccessControl } from '../security/api-tokens.ts';
import type { AuditTrail } from '../security/audit-trail.ts';
import './permissions.ts';

describe('route permissions', () => {
  const opts = { access: {} as AccessControl, audit: {} as AuditTrail };

  it('refuses to register a route that declares no permission', () => {
    const app = Fastify();
    registerAuth(app, opts);
    expect(() => app.get('/api/forgotten', async () => ({}))).toThrow(/GET \/api\/forgotten declares no permission/);
  });

  it('lists every declared route once, without the HEAD twins of GET routes', async () => {
    const app = Fastify();
    const routes = registerAuth(app, opts);
    app.get('/a', { config: { permission: 'read' } }, async () => ({}));
    app.post('/b', { config: { permission: 'deploy' } }, async () => ({}));
    await app.ready();
    expect(routes.map((r) => `${r.method} ${r.url} ${r.permission}`)).toEqual(['GET /a read', 'POST /b deploy']);
  });
});
