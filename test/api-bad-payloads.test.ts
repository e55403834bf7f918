// Bad payloads sent to a real server as a script author or an attacker would send
// them: each is refused in the API's one error shape, changes nothing, and tells
// nothing of the server's own files.

import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packDirectory } from '../src/artefact/index.ts';
import { apiFetch, freePort, scratchDir, shutdownEverything, startServerProcess, type ServerProcess } from './support/harness.ts';

const sha256Of = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** One ustar header block, as node-tar (and slipway's packer) writes it. */
function tarHeader(path: string, size: number): Buffer {
  const h = new Header({ path, mode: 0o644, size, mtime: new Date(0), type: 'File' });
  h.encode();
  return h.block!;
}

type ErrorBody = { error: { code: string; message: string; details: Record<string, unknown> } };
const JSON_HEADERS = { 'content-type': 'application/json' };

/** Sends `bytes` as they are and resolves with everything the server answers until it closes. */
function rawExchange(url: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.end(bytes));
    let answer = '';
    socket.on('data', (c: Buffer) => (answer += c.toString('latin1')));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer in 10 s')));
  });
}

describe('bad payloads to the API', () => {
  let dataDir: string;
  let server: ServerProcess;
  const api = (path: string, init: RequestInit = {}) => apiFetch(`${server.url}${path}`, init);
  const storedArtefacts = () => (existsSync(join(dataDir, 'artefacts')) ? readdirSync(join(dataDir, 'artefacts')) : []);

  beforeAll(async () => {
    dataDir = join(scratchDir('slipway-bad-payloads-'), '.slipway');
    server = await startServerProcess(dataDir);
  }, 60_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('refuses a body of JSON null instead of reading it as an empty one', async () => {
    const made = await api('/api/tokens', { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ user: 'nully', role: 'viewer' }) });
    const token = (await made.json()) as { token: string; id: string };
    const revoke = await api(`/api/tokens/${token.id}/revoke`, { method: 'POST', headers: JSON_HEADERS, body: 'null' });
    expect(revoke.status).toBe(400);
    expect(((await revoke.json()) as ErrorBody).error).toMatchObject({ code: 'E_BAD_REQUEST', message: expect.stringMatching(/^body: .*expected object, received null/) });
    const stop = await api('/api/shutdown', { method: 'POST', headers: JSON_HEADERS, body: 'null' });
    expect(stop.status).toBe(400);
    // Nothing happened: the token still works, the server still answers, and the audit log says refused.
    expect((await fetch(`${server.url}/api/whoami`, { headers: { authorization: `Bearer ${token.token}` } })).status).toBe(200);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const audit = (await (await api('/api/audit?action=token.revoke')).json()) as { entries: { outcome: string }[] };
    expect(audit.entries.map((e) => e.outcome)).toEqual(['refused']);
  });

  it('names a __proto__ or constructor.prototype key as a reason a body is refused, not only invalid JSON', async () => {
    for (const body of ['{"__proto__":{"role":"admin"},"user":"p","role":"viewer"}', '{"user":"p","role":"viewer","constructor":{"prototype":{"role":"admin"}}}']) {
      const r = await api('/api/tokens', { method: 'POST', headers: JSON_HEADERS, body });
      expect(r.status).toBe(400);
      expect(((await r.json()) as ErrorBody).error).toMatchObject({ code: 'E_BAD_REQUEST', message: expect.stringContaining('"__proto__" key') });
    }
  });

  it('refuses __proto__ as a secret or config name, which was answered 201 with nothing stored', async () => {
    const secret = await api('/api/environments/hello%2Fqa/secrets/__proto__', { method: 'PUT', headers: JSON_HEADERS, body: JSON.stringify({ value: 'proto-value-1', allowNew: true }) });
    expect(secret.status).toBe(400);
    expect(((await secret.json()) as ErrorBody).error).toMatchObject({ code: 'E_BAD_REQUEST', details: { field: 'name' } });
    const unset = await api('/api/environments/hello%2Fqa/config/unset', { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ keys: ['__proto__'], allowNew: true }) });
    expect(unset.status).toBe(400);
    // No config version was recorded: the environment is still unknown.
    expect((await api('/api/environments/hello%2Fqa/config/versions')).status).toBe(404);
  });

  it('takes a number in a path or query as digits only, not 0x10, 1e3, " 5" or nothing', async () => {
    for (const path of ['/api/audit?limit=0x2', '/api/audit?limit=1e1', '/api/audit?after=', '/api/audit?limit=%205', '/api/rollouts/0x1', '/api/pipeline/runs?limit=1e1']) {
      const r = await api(path);
      expect(r.status, path).toBe(400);
      expect(((await r.json()) as ErrorBody).error.message, path).toMatch(/^(query|path): \w+: expected a whole number, in digits$/);
    }
    // Digits still work, and a bound is still named.
    expect((await api('/api/audit?limit=2')).status).toBe(200);
    expect(((await (await api('/api/audit?limit=100001')).json()) as ErrorBody).error.message).toMatch(/^query: limit: Too big: expected number to be <=100000$/);
  });

  it('refuses a query parameter its route does not take, naming it and the ones the route takes', async () => {
    const cases = [
      { path: '/api/pipeline/runs?limt=5', field: 'limt', message: 'query: unknown parameter "limt" (did you mean "limit"?); GET /api/pipeline/runs takes: limit, before, status, stage', accepted: ['limit', 'before', 'status', 'stage'] },
      { path: '/api/audit?limit=2&actr=admin', field: 'actr', message: 'query: unknown parameter "actr" (did you mean "actor"?); GET /api/audit takes: env, actor, action, since, after, limit', accepted: ['env', 'actor', 'action', 'since', 'after', 'limit'] },
      { path: '/api/rollouts/1/events?after=0&timeout=100', field: 'timeout', message: 'query: unknown parameter "timeout"; GET /api/rollouts/:id/events takes: after, wait', accepted: ['after', 'wait'] },
      { path: '/api/environments/hello%2Fstaging/releases?limt=5', field: 'limt', message: 'query: unknown parameter "limt" (did you mean "limit"?); GET /api/environments/:env/releases takes: limit, before', accepted: ['limit', 'before'] },
      { path: '/api/environments?service=hello', field: 'service', message: 'query: unknown parameter "service"; GET /api/environments takes no query parameters', accepted: [] },
    ];
    for (const c of cases) {
      const r = await api(c.path);
      expect(r.status, c.path).toBe(400);
      expect(((await r.json()) as ErrorBody).error, c.path).toEqual({ code: 'E_BAD_REQUEST', message: c.message, details: { field: c.field, accepted: c.accepted } });
    }
    // What the route takes still works.
    expect((await api('/api/pipeline/runs?limit=5')).status).toBe(200);
    expect((await api('/api/audit?limit=2&actor=admin')).status).toBe(200);
    expect((await api('/api/environments')).status).toBe(200);
    // Outside /api/ (the dashboard's page, the probes) a query is no business of the API's.
    expect((await api('/healthz?probe=1')).status).toBe(200);
    expect((await api('/ui/?env=hello%2Fstaging')).status).toBe(200);
  });

  it('answers a path it cannot decode, or too long a segment, in the API\'s error shape without echoing it', async () => {
    for (const [path, status] of [['/api/environments/%ff', 400], ['/api/environments/%', 400], [`/api/environments/${'x'.repeat(10_000)}`, 414]] as const) {
      const r = await api(path);
      const text = await r.text();
      expect(r.status, path.slice(0, 40)).toBe(status);
      expect((JSON.parse(text) as ErrorBody).error, path.slice(0, 40)).toMatchObject({ code: 'E_BAD_REQUEST', details: {} });
      expect(text.length).toBeLessThan(300);
    }
  });

  it('answers bytes that are not HTTP, or a head over the limit, in the API\'s error shape', async () => {
    const bad = await rawExchange(server.url, 'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n');
    expect(bad).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(bad.slice(bad.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: { code: 'E_BAD_REQUEST', message: expect.stringContaining('not well-formed') } });
    const big = await rawExchange(server.url, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Junk: ${'y'.repeat(20_000)}\r\n\r\n`);
    expect(big).toMatch(/^HTTP\/1\.1 431 /);
    expect(JSON.parse(big.slice(big.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: { code: 'E_BAD_REQUEST', message: expect.stringContaining('16 KB') } });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('names an artefact that cannot be unpacked by its digest, never by the server\'s file', async () => {
    // A tar.gz the upload takes (its first block is a tar header) whose gzip stream is cut short.
    const whole = gzipSync(Buffer.concat([tarHeader('slipway.yaml', 4096), Buffer.alloc(4096, 0x61)]));
    const bytes = whole.subarray(0, whole.length - 8);
    const digest = sha256Of(bytes);
    const up = await api('/api/artefacts', { method: 'POST', body: bytes, headers: { 'content-type': 'application/octet-stream', 'x-slipway-digest': digest, 'x-slipway-service': 'hello' } });
    expect(up.status).toBe(201);
    const text = `service: hello\nrun:\n  command: node server.js\nenvironments:\n  staging:\n    listen: 127.0.0.1:${await freePort()}\n`;
    const r = await api('/api/environments/hello%2Fstaging/deploys', { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ artefact: digest, config: { text } }) });
    const answer = await r.text();
    expect(r.status).toBe(400);
    expect((JSON.parse(answer) as ErrorBody).error).toMatchObject({ code: 'E_ARTEFACT_INVALID', message: `${digest} is not a readable slipway artefact (.tar.gz): unexpected end of file`, details: { digest } });
    expect(answer).not.toContain(dataDir);
  });

  it('refuses an artefact upload that is not a .tar.gz, saying what it is, and stores nothing', async () => {
    const zip = Buffer.concat([Buffer.from('PK\x03\x04\x14\x00\x00\x00', 'latin1'), randomBytes(200)]);
    const cases = [
      { what: 'random bytes', bytes: Buffer.concat([Buffer.from([0x42, 0x17]), randomBytes(4000)]), message: /^the artefact is not gzip-compressed: it starts with bytes 42 17 [0-9a-f]{2} [0-9a-f]{2}, not gzip's 1f 8b; send the \.tar\.gz/ },
      { what: 'a zip', bytes: zip, message: /^the artefact is not gzip-compressed \(it is a zip archive\): it starts with bytes 50 4b 03 04/ },
      { what: 'gzipped text', bytes: gzipSync(Buffer.from('hello world\n'.repeat(100))), message: /^the artefact is gzip, but not a tar archive: its first block is no tar header/ },
      { what: 'a gzipped short file', bytes: gzipSync(Buffer.from('{}\n')), message: /^the artefact is gzip, but not a tar archive: it inflates to 3 bytes, less than one tar block/ },
      { what: 'gzip that breaks off in its first block', bytes: Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00]), randomBytes(300)]), message: /^the artefact starts as gzip but is not valid gzip/ },
    ];
    for (const [path, service] of [['/api/artefacts', 'hello'], ['/api/pipeline/ci/artefacts', 'hello']] as const) {
      for (const c of cases) {
        const digest = sha256Of(c.bytes);
        const r = await api(path, { method: 'POST', body: c.bytes, headers: { 'content-type': 'application/octet-stream', 'x-slipway-digest': digest, 'x-slipway-service': service } });
        const { error } = (await r.json()) as ErrorBody;
        expect(r.status, `${path} ${c.what}`).toBe(400);
        expect(error.code, `${path} ${c.what}`).toBe('E_BAD_REQUEST');
        expect(error.message, `${path} ${c.what}`).toMatch(c.message);
        expect(error.message, `${path} ${c.what}`).toContain('nothing was stored');
        expect(storedArtefacts().filter((f) => f.includes(digest.slice(7))), `${path} ${c.what}`).toEqual([]);
      }
    }
    // A .tar.gz as slipway packs it is still taken, by both routes.
    const app = scratchDir();
    writeFileSync(join(app, 'slipway.yaml'), 'service: hello\n');
    const packed = await packDirectory({ dir: app, outFile: join(app, '..', `${randomBytes(4).toString('hex')}.tar.gz`) });
    for (const path of ['/api/artefacts', '/api/pipeline/ci/artefacts']) {
      const r = await api(path, { method: 'POST', body: readFileSync(packed.file), headers: { 'content-type': 'application/octet-stream', 'x-slipway-digest': packed.digest, 'x-slipway-service': 'hello' } });
      expect(r.status, path).toBe(201);
    }
    expect(storedArtefacts().filter((f) => f.includes(packed.digest.slice(7)))).toHaveLength(1);
  });
});
