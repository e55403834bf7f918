import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { loadUiAssets, registerUiRoutes } from './ui-routes.ts';

describe('dashboard files', () => {
  const app = Fastify();
  registerUiRoutes(app, loadUiAssets());
  afterAll(() => app.close());

  it('serves the page with a policy that allows only its own scripts and its one import map', async () => {
    const r = await app.inject({ url: '/ui/' });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    const map = /<script type="importmap">([\s\S]*?)<\/script>/.exec(r.body)![1]!;
    const csp = String(r.headers['content-security-policy']);
    expect(csp).toContain(`script-src 'self' 'sha256-${createHash('sha256').update(map).digest('base64')}'`);
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect((await app.inject({ url: '/' })).headers.location).toBe('/ui/');
  });

  it('serves the browser libraries from node_modules, gzipped when asked, and answers 304 to a known ETag', async () => {
    const r = await app.inject({ url: '/ui/vendor/preact.js', headers: { 'accept-encoding': 'gzip, br' } });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(r.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(r.rawPayload).toString()).toContain('export');
    const again = await app.inject({ url: '/ui/vendor/preact.js', headers: { 'if-none-match': String(r.headers.etag) } });
    expect(again.statusCode).toBe(304);
    for (const lib of ['preact-hooks.js', 'htm.js']) expect((await app.inject({ url: `/ui/vendor/${lib}` })).statusCode, lib).toBe(200);
    // The charts are the page's own SVG: no chart library is shipped.
    expect((await app.inject({ url: '/ui/vendor/uplot.js' })).statusCode).toBe(404);
  });

  it('serves nothing outside its list: no parent directory, no source file, no test', async () => {
    for (const url of ['/ui/../package.json', '/ui/%2e%2e/package.json', '/ui/..%2fpackage.json', '/ui/vendor/../../api/ui-routes.ts', '/ui/api.test.js', '/ui/nothing.js']) {
      const r = await app.inject({ url });
      expect(r.statusCode, url).toBe(404);
      expect(r.body, url).not.toContain('"dependencies"');
    }
  });
});
