import { describe, expect, it } from 'vitest';
import { checkAdminRequest, type AdminRequest } from './admin-guard.ts';
import { carriesSecret, newAdminSecret, parseAdminSecret } from './admin-secret.ts';

const SECRET = newAdminSecret();
const AUTH = `Bearer ${SECRET}`;
const JSON_TYPE = 'application/json';

function req(method: string, path: string, headers: AdminRequest['headers'] = {}): AdminRequest {
  return { method, path, headers: { host: '127.0.0.1:4100', ...headers } };
}

describe('admin guard', () => {
  it.each([
    ['PUT /routes with the secret and JSON', req('PUT', '/routes', { authorization: AUTH, 'content-type': JSON_TYPE })],
    ['POST /shutdown with the secret and JSON; charset', req('POST', '/shutdown', { authorization: AUTH, 'content-type': 'application/json; charset=utf-8' })],
    ['GET /stats with the secret', req('GET', '/stats', { authorization: AUTH })],
    ['the liveness probe without the secret', req('GET', '/healthz')],
    ['the readiness probe without the secret', req('GET', '/readyz')],
    ["Node's fetch (it sends Sec-Fetch-Mode)", req('GET', '/status', { authorization: AUTH, 'sec-fetch-mode': 'cors' })],
    ['Host localhost', req('GET', '/status', { authorization: AUTH, host: 'localhost:4100' })],
  ])('lets through %s', (_what, r) => {
    expect(checkAdminRequest(r, SECRET)).toEqual({ ok: true });
  });

  it.each([
    ['PUT /routes without the secret', req('PUT', '/routes', { 'content-type': JSON_TYPE }), 401],
    ['POST /shutdown without the secret', req('POST', '/shutdown', { 'content-type': JSON_TYPE }), 401],
    ['POST /shutdown with another secret', req('POST', '/shutdown', { authorization: `Bearer ${newAdminSecret()}`, 'content-type': JSON_TYPE }), 401],
    ['the secret as Basic credentials', req('GET', '/stats', { authorization: `Basic ${SECRET}` }), 401],
    ['a prefix of the secret', req('GET', '/stats', { authorization: `Bearer ${SECRET.slice(0, 63)}` }), 401],
    ['GET /routes (the topology) without the secret', req('GET', '/routes'), 401],
    ['GET /stats without the secret', req('GET', '/stats'), 401],
    ['GET /status without the secret', req('GET', '/status'), 401],
    ['GET /inflight without the secret', req('GET', '/inflight/i-1'), 401],
    ['a healthz probe by another method', req('POST', '/healthz', { 'content-type': JSON_TYPE }), 401],
    ['an unknown path without the secret', req('DELETE', '/routes'), 401],
    ['a page\'s no-cors POST (Origin, text/plain)', req('POST', '/shutdown', { origin: 'https://evil.example', 'content-type': 'text/plain' }), 403],
    ['an Origin header, even with the secret', req('PUT', '/routes', { authorization: AUTH, origin: 'null', 'content-type': JSON_TYPE }), 403],
    ['Sec-Fetch-Site, even on a probe', req('GET', '/healthz', { 'sec-fetch-site': 'cross-site' }), 403],
    ['a rebinding page\'s Host', req('GET', '/readyz', { host: 'evil.example:4100' }), 403],
    ['a write with the secret as text/plain', req('POST', '/shutdown', { authorization: AUTH, 'content-type': 'text/plain' }), 415],
    ['a write with the secret and no content type', req('PUT', '/routes', { authorization: AUTH }), 415],
  ])('refuses %s', (_what, r, status) => {
    const verdict = checkAdminRequest(r, SECRET);
    expect(verdict.ok).toBe(false);
    expect(!verdict.ok && verdict.status).toBe(status);
  });

  it('makes a different 32-byte secret each time and reads back only well-formed ones', () => {
    const [a, b] = [newAdminSecret(), newAdminSecret()];
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(a).not.toBe(b);
    expect(parseAdminSecret(`${a}\n`, 'admin.secret')).toBe(a);
    expect(() => parseAdminSecret('', 'admin.secret')).toThrow(/admin\.secret must hold the router's admin secret/);
    expect(() => parseAdminSecret(undefined, '$SLIPWAY_ROUTER_SECRET')).toThrow(/SLIPWAY_ROUTER_SECRET/);
  });

  it('matches the bearer secret exactly, whatever the length presented', () => {
    expect(carriesSecret(AUTH, SECRET)).toBe(true);
    expect(carriesSecret(`bearer  ${SECRET}`, SECRET)).toBe(true);
    for (const wrong of [undefined, '', 'Bearer', 'Bearer ', `Bearer ${SECRET}x`, `Bearer ${SECRET.toUpperCase()}`, `Bearer ${'x'.repeat(10_000)}`]) {
      expect(carriesSecret(wrong, SECRET), String(wrong).slice(0, 20)).toBe(false);
    }
  });
});
