// json-server through the router and direct: one CRUD sequence, run against each
// base URL in turn, must give the same statuses, bodies and the headers a client
// reads. The sequence ends where it began (what it creates it deletes), so the
// second run starts from the same data as the first.

import { Readable } from 'node:stream';
import { send, type Burst, type Exchange, type SendOptions } from './http-probe.ts';

interface Step {
  name: string;
  path: string;
  options: (previous: Exchange[]) => SendOptions;
}

const json = (value: unknown): SendOptions => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) });

/** A body in 7-byte pieces of unknown total length: undici sends it chunked. */
function chunks(text: string): Readable {
  return Readable.from(Array.from({ length: Math.ceil(text.length / 7) }, (_, i) => Buffer.from(text.slice(i * 7, i * 7 + 7))));
}

const STEPS: Step[] = [
  { name: 'POST /posts', path: '/posts', options: () => ({ method: 'POST', ...json({ id: 9001, title: 'slipway', author: 'dee', views: 450 }) }) },
  { name: 'GET /posts/9001', path: '/posts/9001', options: () => ({}) },
  { name: 'GET /posts/9001 If-None-Match', path: '/posts/9001', options: (p) => ({ headers: { 'if-none-match': p[1]?.headers.etag ?? '' } }) },
  { name: 'PATCH /posts/9001', path: '/posts/9001', options: () => ({ method: 'PATCH', ...json({ views: 451 }) }) },
  { name: 'PUT /posts/9001', path: '/posts/9001', options: () => ({ method: 'PUT', ...json({ title: 'slipway 2', author: 'dee', views: 452 }) }) },
  // A body of unknown length, sent chunked, as a streaming client would.
  { name: 'POST /comments (chunked)', path: '/comments', options: () => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: chunks(JSON.stringify({ id: 9002, postId: 9001, body: 'sent in chunks' })) }) },
  { name: 'GET /posts/9001/comments', path: '/posts/9001/comments', options: () => ({}) },
  { name: 'GET filter+sort', path: '/posts?views_gte=400&_sort=views&_order=desc', options: () => ({}) },
  { name: 'GET page (Link, X-Total-Count)', path: '/posts?author=bob&_page=2&_limit=5', options: () => ({}) },
  { name: 'GET full-text q=', path: '/posts?q=slipway', options: () => ({}) },
  { name: 'GET percent-encoded query', path: '/posts?title=post%2012&_sort=id', options: () => ({}) },
  { name: 'GET /posts gzip', path: '/posts', options: () => ({ headers: { 'accept-encoding': 'gzip' } }) },
  { name: 'HEAD /posts/9001', path: '/posts/9001', options: () => ({ method: 'HEAD' }) },
  { name: 'OPTIONS preflight', path: '/posts', options: () => ({ method: 'OPTIONS', headers: { origin: 'http://app.example', 'access-control-request-method': 'PATCH' } }) },
  { name: 'POST bad JSON', path: '/posts', options: () => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"title": ' }) },
  { name: 'DELETE /posts/9001', path: '/posts/9001', options: () => ({ method: 'DELETE' }) },
  { name: 'GET /posts/9001 (gone)', path: '/posts/9001', options: () => ({}) },
  { name: 'GET /nope', path: '/nope', options: () => ({}) },
];

/** The headers a client acts on; Keep-Alive, Date and Connection are each hop's own. */
const COMPARED_HEADERS = ['content-type', 'content-encoding', 'content-length', 'etag', 'x-total-count', 'link', 'location', 'access-control-allow-methods', 'access-control-allow-origin', 'vary'];

export interface CrudRun {
  exchanges: Exchange[];
  burst: Burst;
}

/** The sequence, one request at a time, each on its own connection. */
export async function runCrud(base: string): Promise<CrudRun> {
  const exchanges: Exchange[] = [];
  const latenciesMs: number[] = [];
  let errors = 0;
  const t0 = performance.now();
  for (const step of STEPS) {
    const s = performance.now();
    const x = await send(base + step.path, step.options(exchanges));
    latenciesMs.push(performance.now() - s);
    if (x.status >= 500) errors++;
    exchanges.push(x);
  }
  const bytes = exchanges.reduce((n, x) => n + x.body.length, 0);
  return { exchanges, burst: { latenciesMs, errors, bytes, seconds: (performance.now() - t0) / 1000 } };
}

/** Every difference between the two runs, with each side's own origin written as <origin>. */
export function compareCrud(a: { base: string; run: CrudRun }, b: { base: string; run: CrudRun }): string[] {
  const differences: string[] = [];
  const norm = (base: string, text: string) => text.split(new URL(base).host).join('<origin>');
  STEPS.forEach((step, i) => {
    const x = a.run.exchanges[i]!;
    const y = b.run.exchanges[i]!;
    if (x.status !== y.status) differences.push(`${step.name}: status ${x.status} vs ${y.status}`);
    // A gzipped body is compared as bytes: the same zlib on the same input gives the same bytes.
    const bx = x.headers['content-encoding'] ? x.body.toString('base64') : norm(a.base, x.body.toString());
    const by = y.headers['content-encoding'] ? y.body.toString('base64') : norm(b.base, y.body.toString());
    if (bx !== by) differences.push(`${step.name}: body ${JSON.stringify(bx.slice(0, 120))} vs ${JSON.stringify(by.slice(0, 120))}`);
    for (const h of COMPARED_HEADERS) {
      const hx = norm(a.base, x.headers[h] ?? '');
      const hy = norm(b.base, y.headers[h] ?? '');
      if (hx !== hy) differences.push(`${step.name}: header ${h} ${JSON.stringify(hx)} vs ${JSON.stringify(hy)}`);
    }
  });
  return differences;
}

export function crudSummary(run: CrudRun): string {
  return STEPS.map((s, i) => `${s.name} ${run.exchanges[i]!.status}`).join(', ');
}

export const CRUD_STEP_COUNT = STEPS.length;
