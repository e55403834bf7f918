// A small JSON items API for replay and shadow tests (a service's server.js):
// GET/POST/PUT/DELETE on /api/items, writes need `Authorization: Bearer $API_TOKEN`,
// a `?token=` query value unlocks a member view, and every /api call is logged to
// calls.log in SLIPWAY_APP_DATA. Its MODE makes a release misbehave.

export const SERVICE = `// A small JSON items API: GET/POST/PUT/DELETE on /api/items, writes need
// \`Authorization: Bearer $API_TOKEN\`, a \`?token=\` query value unlocks a member view.
// Every /api call is logged to calls.log in SLIPWAY_APP_DATA (method, path, who).
// MODE: stable | price (a field differs) | slow (API answers after 20 s) | reset
// (API connections are cut, as a crashed backend's) | hang-shadow (copies hang).
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import http from 'node:http';

const env = process.env;
const release = env.SLIPWAY_RELEASE || '?';
const calls = env.SLIPWAY_APP_DATA ? join(env.SLIPWAY_APP_DATA, 'calls.log') : null;
const items = new Map([[1, { id: 1, name: 'one', price: 10 }], [2, { id: 2, name: 'two', price: 20 }]]);
let nextId = 100;

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'x-release': release });
  res.end(body === undefined ? '' : JSON.stringify(body));
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/healthz') return send(res, 200, { ok: true });
  const kind = req.headers['x-slipway-replay'] ? 'replay' : req.headers['x-slipway-shadow'] ? 'copy' : 'user';
  const isAuthed = req.headers.authorization === \`Bearer \${env.API_TOKEN}\`;
  if (calls) appendFileSync(calls, \`\${release} \${req.method} \${url.pathname} \${kind} \${isAuthed ? 'auth' : 'anon'}\\n\`);
  if (env.MODE === 'slow' || (env.MODE === 'hang-shadow' && kind === 'copy')) return; // never answers
  if (env.MODE === 'reset') return req.socket.destroy();
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const m = /^\\/api\\/items(?:\\/(\\d+))?$/.exec(url.pathname);
    if (!m) return send(res, 404, { error: 'not found' });
    const id = m[1] === undefined ? null : Number(m[1]);
    const stamp = { updatedAt: new Date().toISOString(), requestId: randomUUID() };
    const member = url.searchParams.get('token') === env.QUERY_TOKEN;
    if (req.method === 'GET') {
      if (id === null) return send(res, 200, { items: [...items.values()], ...stamp });
      const it = items.get(id) ?? { id, name: \`item \${id}\`, price: id * 10 };
      return send(res, 200, { ...it, price: it.price + (env.MODE === 'price' ? 1 : 0), member, ...stamp });
    }
    if (!isAuthed) return send(res, 401, { error: 'authorization required' });
    if (req.method === 'POST' && id === null) {
      const it = { id: nextId++, ...JSON.parse(body || '{}') };
      items.set(it.id, it);
      return send(res, 201, it);
    }
    if (req.method === 'PUT' && id !== null) {
      items.set(id, { id, ...JSON.parse(body || '{}') });
      return send(res, 200, items.get(id));
    }
    if (req.method === 'DELETE' && id !== null) {
      items.delete(id);
      return send(res, 204);
    }
    send(res, 405, { error: 'method not allowed' });
  });
});
server.keepAliveTimeout = 65_000;
server.listen(Number(env.PORT || 3000), '127.0.0.1');
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 500).unref();
});
`;
