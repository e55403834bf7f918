// A FAKE of HashiCorp Vault for tests, since no Vault server can run here. It
// answers only the two endpoints slipway's VaultKvProvider uses, as Vault's HTTP
// API documents them:
//   POST /v1/auth/approle/login          { role_id, secret_id } → { auth: { client_token, lease_duration } }
//   GET  /v1/<mount>/data/<path>[?version=N]  (KV version 2 read) → { data: { data, metadata: { version, ... } } }
// Its limits: secrets live in memory and are written through put() (not the HTTP
// API); a token is valid or not (no policies, leases, renewals or expiry); one
// namespace header is checked if set; errors are Vault's shape ({"errors": [...]})
// but only 400/403/404 are produced. It listens on 127.0.0.1 only.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

interface Version {
  data: Record<string, unknown>;
  createdTime: string;
  deleted: boolean;
}

export interface FakeVaultOptions {
  /** Tokens accepted in X-Vault-Token. */
  tokens?: string[];
  /** AppRole credentials that log in, and the token they get. */
  appRole?: { roleId: string; secretId: string; token: string };
  /** When set, requests must carry this X-Vault-Namespace. */
  namespace?: string;
}

export class FakeVault {
  /** Every request, for tests to check what was asked (and that no token leaked elsewhere). */
  readonly requests: { method: string; url: string; token: string | null }[] = [];
  private readonly kv = new Map<string, Version[]>();
  private server: Server | null = null;
  url = '';

  constructor(private readonly o: FakeVaultOptions = {}) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Writes a new version of a KV v2 secret; returns its version number. */
  put(mount: string, path: string, data: Record<string, unknown>): number {
    const key = `${mount}/${path}`;
    const versions = this.kv.get(key) ?? [];
    versions.push({ data, createdTime: new Date().toISOString(), deleted: false });
    this.kv.set(key, versions);
    return versions.length;
  }

  /** Soft-deletes one version, as `vault kv delete -versions=N` does. */
  deleteVersion(mount: string, path: string, version: number): void {
    const v = this.kv.get(`${mount}/${path}`)?.[version - 1];
    if (v) v.deleted = true;
  }

  private send(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const token = typeof req.headers['x-vault-token'] === 'string' ? req.headers['x-vault-token'] : null;
    this.requests.push({ method: req.method ?? '', url: req.url ?? '', token });
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', 'http://vault');
    if (this.o.namespace && req.headers['x-vault-namespace'] !== this.o.namespace) return this.send(res, 403, { errors: ['permission denied'] });

    if (req.method === 'POST' && url.pathname === '/v1/auth/approle/login') {
      let body: { role_id?: string; secret_id?: string } = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
      } catch {
        return this.send(res, 400, { errors: ['failed to parse JSON input'] });
      }
      const r = this.o.appRole;
      if (!r || body.role_id !== r.roleId || body.secret_id !== r.secretId) return this.send(res, 400, { errors: ['invalid role or secret ID'] });
      return this.send(res, 200, { auth: { client_token: r.token, lease_duration: 3600, renewable: true, policies: ['default'] } });
    }

    const m = /^\/v1\/(.+?)\/data\/(.+)$/.exec(url.pathname);
    if (req.method === 'GET' && m) {
      const accepted = [...(this.o.tokens ?? []), ...(this.o.appRole ? [this.o.appRole.token] : [])];
      if (!token || !accepted.includes(token)) return this.send(res, 403, { errors: ['permission denied'] });
      const versions = this.kv.get(`${m[1]}/${decodeURIComponent(m[2]!)}`);
      const wanted = url.searchParams.get('version');
      const n = wanted ? Number(wanted) : versions?.length ?? 0;
      const v = versions?.[n - 1];
      if (!versions || !v) return this.send(res, 404, { errors: [] });
      const metadata = { created_time: v.createdTime, custom_metadata: null, deletion_time: v.deleted ? v.createdTime : '', destroyed: false, version: n };
      if (v.deleted) return this.send(res, 404, { data: { data: null, metadata } });
      return this.send(res, 200, { request_id: 'fake', lease_id: '', renewable: false, lease_duration: 0, data: { data: v.data, metadata }, wrap_info: null, warnings: null, auth: null });
    }
    this.send(res, 404, { errors: [] });
  }
}
