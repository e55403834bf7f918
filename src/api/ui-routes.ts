// The dashboard's static files: src/ui/ as it is (plain ES modules and CSS, no build
// step) and the few browser libraries it uses, straight from node_modules. Only these
// files are public; every figure the page shows comes from the authenticated API.
//
// The file list is made once at start and served from memory, so no request path
// ever reaches the file system: nothing outside the list can be asked for.

import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

const UI_DIR = fileURLToPath(new URL('../ui/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** URL path under /ui/vendor/ → a package's file (the page's import map names them). */
const VENDOR: Record<string, { pkg: string; file: string }> = {
  'preact.js': { pkg: 'preact', file: 'preact.mjs' },
  'preact-hooks.js': { pkg: 'preact/hooks', file: 'hooks.mjs' },
  'htm.js': { pkg: 'htm', file: 'htm.module.js' },
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
  /** Made on the first request that accepts it (not at start: start time matters more); null: not worth it. */
  gzip?: Buffer | null;
}

function asset(body: Buffer, type: string): Asset {
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

/** The gzipped body, or null when it would not be smaller. */
export function gzipOf(a: Asset): Buffer | null {
  if (a.gzip === undefined) {
    const gz = a.body.length > 1024 ? gzipSync(a.body, { level: 9 }) : null;
    a.gzip = gz && gz.length < a.body.length ? gz : null;
  }
  return a.gzip;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return filesUnder(p);
    return TYPES[extname(name)] && !/\.test\./.test(name) ? [p] : [];
  });
}

/** The assets by URL path below /ui/. */
export function loadUiAssets(uiDir = UI_DIR): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const file of filesUnder(uiDir)) {
    const path = relative(uiDir, file).split(sep).join('/');
    assets.set(path, asset(readFileSync(file), TYPES[extname(file)]!));
  }
  const require = createRequire(import.meta.url);
  for (const [path, v] of Object.entries(VENDOR)) {
    // The package's main entry sits beside its ES module build in every one of these.
    const file = join(dirname(require.resolve(v.pkg)), v.file);
    assets.set(`vendor/${path}`, asset(readFileSync(file), TYPES[extname(path)]!));
  }
  return assets;
}

/**
 * index.html's policy: scripts from this origin only, plus its one inline import map
 * (allowed by hash); nothing may frame the page; no request leaves the origin.
 */
function contentSecurityPolicy(indexHtml: string): string {
  const hashes = [...indexHtml.matchAll(/<script type="importmap">([\s\S]*?)<\/script>/g)]
    .map((m) => `'sha256-${createHash('sha256').update(m[1]!).digest('base64')}'`);
  return [
    "default-src 'self'", `script-src 'self' ${hashes.join(' ')}`.trim(), "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:", "connect-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
  ].join('; ');
}

function send(req: FastifyRequest, reply: FastifyReply, a: Asset, extraHeaders: Record<string, string> = {}) {
  reply.header('content-type', a.type).header('etag', a.etag).header('cache-control', 'no-cache')
    .header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer').header('vary', 'accept-encoding');
  for (const [k, v] of Object.entries(extraHeaders)) reply.header(k, v);
  if (req.headers['if-none-match'] === a.etag) return reply.status(304).send();
  const gz = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? '')) ? gzipOf(a) : null;
  if (gz) return reply.header('content-encoding', 'gzip').send(gz);
  return reply.send(a.body);
}

export function registerUiRoutes(app: FastifyInstance, assets: Map<string, Asset> = loadUiAssets()): void {
  const index = assets.get('index.html');
  if (!index) throw new Error(`the dashboard's index.html is missing from ${UI_DIR}`);
  const pageHeaders = { 'content-security-policy': contentSecurityPolicy(index.body.toString('utf8')), 'x-frame-options': 'DENY' };

  app.get('/', { config: { permission: 'public', summary: 'redirects to the dashboard' } }, async (_req, reply) => reply.redirect('/ui/'));
  app.get('/ui', { config: { permission: 'public', summary: 'redirects to the dashboard' } }, async (_req, reply) => reply.redirect('/ui/'));
  app.get('/ui/', { config: { permission: 'public', summary: 'the dashboard (sign in with an API token)' } }, async (req, reply) => send(req, reply, index, pageHeaders));
  app.get('/ui/*', { config: { permission: 'public', summary: 'the dashboard\'s static files (no data)' } }, async (req, reply) => {
    const path = (req.params as { '*': string })['*'];
    const a = path === 'index.html' ? null : assets.get(path);
    if (!a) return reply.status(404).send({ error: { code: 'E_NOT_FOUND', message: `no dashboard file ${path}`, details: {} } });
    return send(req, reply, a);
  });
}
