// Issue 18, certificate files through the whole system: slipway.yaml's tls: names
// a certificate file made by openssl and its key by a secret reference; the
// server reads both, the router serves them, and the key shows up nowhere it
// should not. A broken key is reported and the certificate in use keeps serving.

import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiFetch, freePort, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';
import { makeTestCa, makeTestCertificate, type TestCa, type TestCertificate } from './support/tls-certs.ts';
import { http2Get, https1Get, peerCertificate } from './support/tls-clients.ts';

describe('tls: with certificate files, through a real server', () => {
  let app: string;
  let work: string;
  let dataDir: string;
  let server: ServerProcess;
  let ca: TestCa;
  let cert: TestCertificate;
  let keyFile: string;
  let port: number;
  let httpPort: number;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir, timeoutMs: 90_000 });

  beforeAll(async () => {
    work = scratchDir('slipway-tls-files-');
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    ca = makeTestCa(work);
    cert = makeTestCertificate(ca, 'shop', ['shop.test', 'www.shop.test']);
    // The key where a secret reference points: a file outside the data directory.
    keyFile = join(work, 'shop-key.pem');
    writeFileSync(keyFile, cert.key, { mode: 0o600 });
    [port, httpPort] = [await freePort(), await freePort()];
    server = await startServerProcess(dataDir, 'server.log', { ...process.env, SLIPWAY_TLS_CHECK_MS: '1000' });
    // The server reads the certificate and the key's file only where the admin's policy says.
    const policy = await apiFetch(`${server.url}/api/policy`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `environments:\n  '*':\n    secrets: { file: ['${work}/**'] }\n` }) });
    expect(policy.status, await policy.text()).toBe(200);
    writeService(app, {
      envs: {
        production: {
          instances: 1,
          port,
          extraYaml: ['hosts: [shop.test, www.shop.test]', 'tls:', `  http_listen: 127.0.0.1:${httpPort}`, '  redirect_http: true', '  certificates:', `    - cert_file: ${cert.certFile}`, `      key: { file: ${keyFile} }`].join('\n'),
        },
      },
    });
  }, 60_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
    rmSync(work, { recursive: true, force: true });
  });

  it('serves the release over HTTPS (HTTP/1.1 and HTTP/2) with the file\'s certificate, and redirects plain HTTP', async () => {
    const deployed = await cli('deploy', 'production');
    expect(deployed.code, deployed.stdout + deployed.stderr).toBe(0);
    await waitFor('HTTPS served', async () => (await https1Get({ port, host: 'shop.test', ca: ca.cert }).catch(() => null))?.status === 200, 20_000);
    const h1 = await https1Get({ port, host: 'shop.test', ca: ca.cert });
    expect(h1).toMatchObject({ status: 200, certCn: 'shop.test' });
    const h2 = await http2Get({ port, host: 'www.shop.test', ca: ca.cert });
    expect(h2).toMatchObject({ status: 200, alpn: 'h2' });
    const plain = await request(`http://127.0.0.1:${httpPort}/cart?x=1`, { headers: { host: 'www.shop.test' } });
    expect(plain.statusCode).toBe(308);
    expect(plain.headers.location).toBe(`https://www.shop.test:${port}/cart?x=1`);
    await plain.body.dump();
    const status = await cli('status', 'production');
    expect(status.stdout).toMatch(/shop\.test, www\.shop\.test {2}issuer CN=slipway test CA, issued \d{4}-\d\d-\d\d, expires .* UTC \(1 days\)/);
    expect(status.stdout).toMatch(/last load attempt .*: ok/);
  }, 90_000);

  it('keeps the key out of the data directory, the logs and the API in plain text', async () => {
    const keyBody = cert.key.split('\n')[1]!;
    const answers = await Promise.all(['/api/environments/production', '/api/environments', '/api/releases/production'].map(async (p) => (await apiFetch(`${server.url}${p}`)).text()));
    for (const text of answers) expect(text).not.toContain(keyBody);
    for (const file of ['.slipway/state.db', '.slipway/state.db-wal', '.slipway/router/routes.json', 'server.log', '.slipway/router/router.log']) {
      let text = '';
      try {
        text = readFileSync(join(work, file)).toString('latin1');
      } catch {
        continue;
      }
      expect(text, file).not.toContain(keyBody);
      expect(text, file).not.toContain('PRIVATE KEY');
    }
  });

  it('reports a key that no longer matches and keeps serving the certificate in use', async () => {
    const before = (await peerCertificate({ port, servername: 'shop.test' })).serialNumber;
    const other = makeTestCertificate(ca, 'other', ['other.test']);
    writeFileSync(keyFile, other.key);
    await waitFor('the failed load in status', async () => {
      const s = JSON.parse((await cli('--json', 'status', 'production')).stdout) as { environments?: { tls?: { lastAttempt?: { ok: boolean } } }[]; tls?: { lastAttempt?: { ok: boolean } } };
      const tls = s.environments?.[0]?.tls ?? s.tls;
      return tls?.lastAttempt?.ok === false;
    }, 20_000);
    const status = await cli('status', 'production');
    expect(status.stdout).toContain("tls.certificates[0] (" + cert.certFile + "): the key is not the certificate's");
    expect(status.stdout).not.toContain('PRIVATE KEY');
    expect((await peerCertificate({ port, servername: 'shop.test' })).serialNumber).toBe(before);
    expect((await https1Get({ port, host: 'shop.test', ca: ca.cert })).status).toBe(200);
  }, 60_000);
});
