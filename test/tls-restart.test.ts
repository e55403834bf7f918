// Issue 18: HTTPS survives restarts. The router keeps its route table, private
// keys sealed, in routes.json: killed with SIGKILL it is started again (by the
// server, or with no server at all) and serves the same certificate from that
// file; a restarted server takes it over without a handshake failing meanwhile.
// A real server, a real router process, certificates made by openssl.

import { X509Certificate } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureRouter } from '../src/router/router-client.ts';
import { apiFetch, freePort, isPidAlive, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';
import { makeTestCa, makeTestCertificate, type TestCa, type TestCertificate } from './support/tls-certs.ts';
import { https1Get, peerCertificate } from './support/tls-clients.ts';

describe('HTTPS after the router and the server are killed', () => {
  let app: string;
  let work: string;
  let dataDir: string;
  let server: ServerProcess;
  let ca: TestCa;
  let cert: TestCertificate;
  let port: number;
  const routerDir = () => join(dataDir, 'router');
  const routerPid = () => (JSON.parse(readFileSync(join(routerDir(), 'router.json'), 'utf8')) as { pid: number }).pid;
  const serial = async () => (await peerCertificate({ port, servername: 'shop.test' })).serialNumber.toUpperCase();
  const served = async () => (await https1Get({ port, host: 'shop.test', ca: ca.cert }).catch(() => null))?.status === 200;

  /** Fresh TLS connections (a new handshake each) in a loop until stopped: what a restart must not fail. */
  const handshakeLoad = () => {
    let isDone = false;
    const failures: string[] = [];
    let ok = 0;
    const worker = async () => {
      while (!isDone) {
        try {
          const r = await https1Get({ port, host: 'shop.test', ca: ca.cert });
          if (r.status === 200) ok++;
          else failures.push(`HTTP ${r.status}`);
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
    };
    const workers = [worker(), worker()];
    return {
      async stop() {
        isDone = true;
        await Promise.all(workers);
        return { ok, failures };
      },
    };
  };

  beforeAll(async () => {
    work = scratchDir('slipway-tls-restart-');
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    ca = makeTestCa(work);
    cert = makeTestCertificate(ca, 'shop', ['shop.test']);
    const keyFile = join(work, 'shop-key.pem');
    writeFileSync(keyFile, cert.key, { mode: 0o600 });
    port = await freePort();
    server = await startServerProcess(dataDir);
    const policy = await apiFetch(`${server.url}/api/policy`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `environments:\n  '*':\n    secrets: { file: ['${work}/**'] }\n` }) });
    expect(policy.status, await policy.text()).toBe(200);
    writeService(app, {
      envs: {
        production: { instances: 1, port, extraYaml: ['hosts: [shop.test]', 'tls:', '  certificates:', `    - cert_file: ${cert.certFile}`, `      key: { file: ${keyFile} }`].join('\n') },
      },
    });
    const deployed = await runCli(['deploy', 'production'], { cwd: app, dataDir, timeoutMs: 90_000 });
    expect(deployed.code, deployed.stdout + deployed.stderr).toBe(0);
    await waitFor('HTTPS served', served, 20_000);
  }, 120_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  it('keeps routes.json free of any plaintext private key', () => {
    const saved = readFileSync(join(routerDir(), 'routes.json'), 'utf8');
    expect(saved).toContain('BEGIN CERTIFICATE');
    expect(saved).toContain('sealed:v1:');
    expect(saved).not.toContain('PRIVATE KEY');
    expect(saved).not.toContain(cert.key.split('\n')[1]!);
    // Nothing else the router keeps holds it either.
    for (const file of readdirSync(routerDir(), { recursive: true, withFileTypes: true })) {
      if (file.isFile()) expect(readFileSync(join(file.parentPath, file.name), 'latin1'), file.name).not.toContain('PRIVATE KEY');
    }
  });

  it('a router killed with SIGKILL under a running server is replaced and serves the same certificate', async () => {
    const expected = new X509Certificate(cert.cert).serialNumber.toUpperCase();
    expect(await serial()).toBe(expected);
    const pid = routerPid();
    process.kill(pid, 'SIGKILL');
    await waitFor('a new router', () => !isPidAlive(pid) && routerPid() !== pid, 20_000);
    await waitFor('HTTPS served again', served, 20_000);
    expect(await serial()).toBe(expected);
  }, 60_000);

  it('with the server dead, a router started again serves HTTPS from the sealed routes.json alone', async () => {
    const expected = await serial();
    await server.kill9();
    const pid = routerPid();
    process.kill(pid, 'SIGKILL');
    await waitFor('the router gone', () => !isPidAlive(pid), 10_000);
    // No server runs: whatever the new router serves comes from its own state dir.
    const router = await ensureRouter({ stateDir: routerDir() });
    expect(router.pid).not.toBe(pid);
    await waitFor('the router ready', async () => (await router.getStatus()).ready, 20_000);
    expect((await router.getStatus()).restoreError).toBeUndefined();
    await waitFor('HTTPS served from routes.json', served, 20_000);
    expect(await serial()).toBe(expected);
    expect(readFileSync(join(routerDir(), 'routes.json'), 'utf8')).not.toContain('PRIVATE KEY');
  }, 60_000);

  it('a restarted server takes the router over without failing a TLS handshake, still with the same certificate', async () => {
    const expected = await serial();
    const routerBefore = routerPid();
    const load = handshakeLoad();
    await new Promise((r) => setTimeout(r, 300));
    server = await startServerProcess(dataDir, 'server2.log');
    // The server pushes its own table at start, then the certificates once its keeper has read them.
    await waitFor('the server\'s table with its certificate', async () => {
      const s = (await (await apiFetch(`${server.url}/api/environments/production`)).json()) as { tls?: { certificates: unknown[] } };
      return (s.tls?.certificates.length ?? 0) > 0;
    }, 20_000);
    await new Promise((r) => setTimeout(r, 1_500));
    const { ok, failures } = await load.stop();
    expect(failures.slice(0, 5)).toEqual([]);
    expect(ok).toBeGreaterThan(10);
    expect(routerPid()).toBe(routerBefore);
    expect(await serial()).toBe(expected);
    expect(readFileSync(join(routerDir(), 'routes.json'), 'utf8')).not.toContain('PRIVATE KEY');
  }, 90_000);
});
