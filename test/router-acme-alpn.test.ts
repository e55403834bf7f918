// Issue 18, ACME TLS-ALPN-01 (RFC 8737): a real slipway server obtains a certificate
// from Debian's pebble on loopback with no plain-HTTP listener at all. pebble
// validates by a TLS handshake offering ALPN acme-tls/1 to the environment's own
// listen port (its tlsPort), and the router answers it with the challenge
// certificate the server pushed; the certificate obtained is then served by SNI.

import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiFetch, freePort, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';
import { startPebble, type Pebble } from './support/pebble.ts';
import { http2Get, https1Get, peerCertificate } from './support/tls-clients.ts';

const HOST = 'alpn.slipway.test';

describe('ACME TLS-ALPN-01 through the router, against pebble', () => {
  let app: string;
  let dataDir: string;
  let work: string;
  let server: ServerProcess;
  let pebble: Pebble;
  let root: string;
  let port: number;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir, timeoutMs: 90_000 });

  beforeAll(async () => {
    work = scratchDir('slipway-acme-alpn-');
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    port = await freePort();
    mkdirSync(join(work, 'pebble'));
    // Nothing listens on httpPort: an HTTP-01 validation could only fail.
    pebble = await startPebble({ dir: join(work, 'pebble'), httpPort: await freePort(), tlsPort: port });
    root = await pebble.issuingRoot();
    server = await startServerProcess(dataDir, 'server.log', { ...process.env, SLIPWAY_TLS_CHECK_MS: '1000' });
    const policy = await apiFetch(`${server.url}/api/policy`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `environments:\n  '*':\n    secrets: { file: ['${work}/**'] }\n    outbound: { allow: ['${new URL(pebble.directoryUrl).origin}/**'] }\n` }) });
    expect(policy.status, await policy.text()).toBe(200);
    writeService(app, {
      envs: {
        production: {
          instances: 1,
          port,
          extraYaml: [
            `hosts: [${HOST}]`,
            'tls:',
            '  acme:',
            `    directory: "${pebble.directoryUrl}"`,
            '    email: ops@slipway.test',
            '    challenge: tls-alpn-01',
            `    ca_file: ${pebble.caFile}`,
          ].join('\n'),
        },
      },
    });
  }, 60_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
    await pebble?.stop();
  });

  it('obtains a certificate validated by acme-tls/1 on the environment\'s listen port and serves it over HTTP/1.1 and HTTP/2', async () => {
    const deployed = await cli('deploy', 'production');
    expect(deployed.code, deployed.stdout + deployed.stderr).toBe(0);
    await waitFor('the ACME certificate served', async () => (await https1Get({ port, host: HOST, ca: root }).catch(() => null))?.status === 200, 60_000);
    expect((await peerCertificate({ port, servername: HOST })).issuer.CN).toMatch(/Pebble Intermediate/);
    expect(await http2Get({ port, host: HOST, ca: root })).toMatchObject({ status: 200, alpn: 'h2', certCn: HOST });
    type Tls = { tls?: { source: string; lastAttempt: { ok: boolean } } };
    const status = JSON.parse((await cli('--json', 'status', 'production')).stdout) as Tls & { environments?: Tls[] };
    expect((status.environments?.[0] ?? status).tls).toMatchObject({ source: 'acme', lastAttempt: { ok: true } });
    // The challenge certificate's key, like the certificate's, is in no log and not in routes.json in plain text.
    for (const file of [join(work, 'server.log'), join(dataDir, 'router', 'routes.json'), join(dataDir, 'router', 'router.log')]) {
      expect(readFileSync(file, 'utf8'), file).not.toContain('PRIVATE KEY');
    }
  }, 120_000);

  it('after a server kill -9, the restarted server serves the stored certificate from its first table, orders none, and still shows the last renewal attempt', async () => {
    type Tls = { tls?: { lastAttempt: { at: string; ok: boolean } | null; certificates: unknown[] } };
    const tlsOf = async () => {
      const s = (await (await apiFetch(`${server.url}/api/environments/production`)).json()) as Tls;
      return s.tls;
    };
    const before = await tlsOf();
    expect(before?.lastAttempt?.ok).toBe(true);
    const serial = (await peerCertificate({ port, servername: HOST })).serialNumber;
    let isDone = false;
    const failures: string[] = [];
    let ok = 0;
    // New handshakes all through the restart: the first table the new server pushes must carry the certificate.
    const load = (async () => {
      while (!isDone) {
        try {
          if ((await https1Get({ port, host: HOST, ca: root })).status === 200) ok++;
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
    })();
    await server.kill9();
    server = await startServerProcess(dataDir, 'server2.log', { ...process.env, SLIPWAY_TLS_CHECK_MS: '1000' });
    await waitFor('the keeper\'s status', async () => ((await tlsOf())?.certificates.length ?? 0) > 0, 20_000);
    await new Promise((r) => setTimeout(r, 2_000));
    isDone = true;
    await load;
    expect(failures.slice(0, 5)).toEqual([]);
    expect(ok).toBeGreaterThan(5);
    expect((await peerCertificate({ port, servername: HOST })).serialNumber).toBe(serial);
    expect((await tlsOf())?.lastAttempt).toEqual(before?.lastAttempt);
    expect(readFileSync(join(work, 'server2.log'), 'utf8')).not.toContain('ordering a TLS certificate');
  }, 90_000);
});
