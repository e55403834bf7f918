// Certificate files renewed on disk while the router serves them: two services
// (shop and blog, two slipway.yaml) share one TLS address, each with its own
// certificate file. When shop's files are replaced the way certbot or a person
// does it (the certificate first, the key a moment later), the server reads
// them again within seconds, with no deploy or restart and no "key does not
// match" reported for the moment between the two writes; blog's certificate
// is not touched.

import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiFetch, freePort, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';
import { makeTestCa, makeTestCertificate, type TestCa } from './support/tls-certs.ts';
import { https1Get, peerCertificate } from './support/tls-clients.ts';

describe('a certificate file replaced on disk while it serves', () => {
  let work: string;
  let dataDir: string;
  let server: ServerProcess;
  let ca: TestCa;
  let port: number;
  const files = (name: string) => ({ cert: join(work, `${name}-live.crt`), key: join(work, `${name}-live.key`) });
  const cli = (service: string, ...args: string[]) => runCli(args, { cwd: join(work, service), dataDir, timeoutMs: 60_000 });
  const serial = async (servername: string) => (await peerCertificate({ port, servername })).serialNumber;

  beforeAll(async () => {
    work = scratchDir('slipway-tls-replaced-');
    dataDir = join(work, '.slipway');
    ca = makeTestCa(work);
    port = await freePort();
    for (const name of ['shop', 'blog']) {
      const c = makeTestCertificate(ca, `${name}-1`, [`${name}.test`]);
      writeFileSync(files(name).cert, c.cert);
      writeFileSync(files(name).key, c.key, { mode: 0o600 });
    }
    // No SLIPWAY_TLS_CHECK_MS: the server's hourly check is what a real one runs.
    server = await startServerProcess(dataDir, 'server.log');
    const policy = await apiFetch(`${server.url}/api/policy`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `environments:\n  '*':\n    secrets: { file: ['${work}/**'] }\n` }) });
    expect(policy.status, await policy.text()).toBe(200);
    for (const name of ['shop', 'blog']) {
      writeService(join(work, name), {
        service: name,
        envs: {
          production: {
            instances: 1,
            port,
            extraYaml: [`hosts: [${name}.test]`, 'tls:', '  certificates:', `    - cert_file: ${files(name).cert}`, `      key: { file: ${files(name).key} }`].join('\n'),
          },
        },
      });
      const deployed = await cli(name, 'deploy', 'production');
      expect(deployed.code, deployed.stdout + deployed.stderr).toBe(0);
    }
    await waitFor('both served over HTTPS', async () => {
      const answers = await Promise.all(['shop.test', 'blog.test'].map((host) => https1Get({ port, host, ca: ca.cert }).catch(() => null)));
      return answers.every((a) => a?.status === 200);
    }, 20_000);
  }, 120_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
    rmSync(work, { recursive: true, force: true });
  });

  it('gives a client without SNI, or with a name no certificate covers, the certificate of the name that sorts first', async () => {
    // shop was deployed first; blog/production sorts before shop/production.
    const blog = await serial('blog.test');
    expect((await peerCertificate({ port })).serialNumber).toBe(blog);
    expect(await serial('nope.test')).toBe(blog);
  });

  it('serves the new certificate within seconds, with no deploy, and reports no mismatch while the key is written', async () => {
    const [shopBefore, blogBefore] = [await serial('shop.test'), await serial('blog.test')];
    const renewed = makeTestCertificate(ca, 'shop-2', ['shop.test'], 30);
    // The certificate first, the key a moment later: in between they do not match.
    writeFileSync(files('shop').cert, renewed.cert);
    await new Promise((r) => setTimeout(r, 1500));
    writeFileSync(files('shop').key, renewed.key);
    const wroteAt = Date.now();
    await waitFor('the renewed certificate served', async () => (await serial('shop.test')) !== shopBefore, 15_000);
    expect(Date.now() - wroteAt).toBeLessThan(10_000);
    expect(await serial('shop.test')).toBe(new (await import('node:crypto')).X509Certificate(renewed.cert).serialNumber);
    expect((await https1Get({ port, host: 'shop.test', ca: ca.cert })).status).toBe(200);
    expect(await serial('blog.test')).toBe(blogBefore);
    const status = await cli('shop', 'status', 'production');
    expect(status.stdout).toMatch(/shop\.test {2}issuer CN=slipway test CA, issued \d{4}-\d\d-\d\d, expires .* UTC \((29|30) days\)/);
    expect(status.stdout).toMatch(/last load attempt .*: ok/);
    expect(readFileSync(join(work, 'server.log'), 'utf8')).not.toContain('could not be loaded');
  }, 60_000);
});
