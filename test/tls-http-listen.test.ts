// TLS's plain-HTTP side (tls.http_listen) on a host with two services: the second
// service could not share it, and a redeploy of an environment with it was refused,
// both "held by another process on this machine (EADDRINUSE)": the router held that
// address for them already, and the check knew only the environments' `listen`.

import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiFetch, freePort, runCli, scratchDir, shutdownEverything, startServerProcess, writeService, type ServerProcess } from './support/harness.ts';
import { makeTestCa, makeTestCertificate } from './support/tls-certs.ts';
import { https1Get } from './support/tls-clients.ts';

/** A plain-HTTP request to the http_listen side: its status and Location. */
function plainGet(port: number, host: string): Promise<{ status: number; location: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/hello?x=1', headers: { host } }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, location: res.headers.location });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('two services with TLS on one host, each with the same http_listen', { timeout: 180_000 }, () => {
  const work = scratchDir('slipway-tls-http-listen-');
  const dataDir = join(work, '.slipway');
  let server: ServerProcess;
  let tlsPort = 0;
  let httpPort = 0;
  let caCert = '';
  const cli = (service: string, ...args: string[]) => runCli(args, { cwd: join(work, service), dataDir, timeoutMs: 60_000 });
  const write = (name: string, version: string) =>
    writeService(join(work, name), {
      service: name, version,
      envs: {
        production: {
          instances: 1, port: tlsPort,
          extraYaml: [
            `hosts: [${name}.test]`, 'tls:', `  http_listen: 127.0.0.1:${httpPort}`, '  redirect_http: true', '  certificates:',
            `    - cert_file: ${join(work, `${name}.crt`)}`, `      key: { file: ${join(work, `${name}.key`)} }`,
          ].join('\n'),
        },
      },
    });

  beforeAll(async () => {
    const ca = makeTestCa(work);
    caCert = ca.cert;
    [tlsPort, httpPort] = [await freePort(), await freePort()];
    for (const name of ['shop', 'blog']) {
      const c = makeTestCertificate(ca, name, [`${name}.test`]);
      writeFileSync(join(work, `${name}.crt`), c.cert);
      writeFileSync(join(work, `${name}.key`), c.key, { mode: 0o600 });
    }
    server = await startServerProcess(dataDir, 'server.log');
    const policy = await apiFetch(`${server.url}/api/policy`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `environments:\n  '*':\n    secrets: { file: ['${work}/**'] }\n` }) });
    expect(policy.status, await policy.text()).toBe(200);
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('deploys the second service beside the first, and each again, with both redirected and served', async () => {
    for (const name of ['shop', 'blog']) {
      write(name, '1.0.0');
      const d = await cli(name, 'deploy', 'production');
      expect(d.code, `${name}: ${d.stdout}${d.stderr}`).toBe(0);
    }
    // A redeploy of each: a new version, on the addresses the router holds for it.
    for (const name of ['shop', 'blog']) {
      write(name, '2.0.0');
      const d = await cli(name, 'deploy', 'production');
      expect(d.code, `${name} again: ${d.stdout}${d.stderr}`).toBe(0);
    }
    for (const name of ['shop', 'blog']) {
      expect(await plainGet(httpPort, `${name}.test`)).toEqual({ status: 308, location: `https://${name}.test:${tlsPort}/hello?x=1` });
      const served = await https1Get({ port: tlsPort, host: `${name}.test`, ca: caCert });
      expect(served.status).toBe(200);
      expect(JSON.parse(served.body) as { version: string }).toMatchObject({ version: '2.0.0' });
    }
  });
});
