// An ACME environment whose CA cannot be reached at its first order: a real server
// deploys it with the directory on a loopback port where nothing listens. The
// team must be told why (the connection was refused), not acme-client's lost
// error ("Cannot read properties of undefined"), and until there is a
// certificate the router's listener ends each handshake with a TLS alert
// (handshake_failure, as docs/config.md says), not a dropped connection that
// clients report as a network failure.

import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { readFileSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiFetch, freePort, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';

const HOST = 'shop.slipway.test';

/** How a handshake with the listener ended: the TLS error code the client saw. */
function handshakeError(port: number, servername?: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ...(servername ? { servername } : {}), rejectUnauthorized: false }, () => {
      socket.destroy();
      resolve('handshake completed');
    });
    socket.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

describe('an ACME CA that cannot be reached at the first order', () => {
  let work: string;
  let app: string;
  let dataDir: string;
  let server: ServerProcess;
  let port: number;
  let caPort: number;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir, timeoutMs: 60_000 });

  beforeAll(async () => {
    work = scratchDir('slipway-tls-acme-down-');
    app = join(work, 'shop');
    dataDir = join(work, '.slipway');
    // Reserved and never listened on: connections to it are refused.
    [port, caPort] = [await freePort(), await freePort()];
    server = await startServerProcess(dataDir, 'server.log', { ...process.env, SLIPWAY_TLS_CHECK_MS: '1000' });
    const policy = await apiFetch(`${server.url}/api/policy`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `environments:\n  '*':\n    outbound: { allow: ['https://127.0.0.1:${caPort}/**'] }\n` }) });
    expect(policy.status, await policy.text()).toBe(200);
    writeService(app, {
      service: 'shop',
      envs: {
        production: {
          instances: 1,
          port,
          extraYaml: [`hosts: [${HOST}]`, 'tls:', '  acme:', `    directory: "https://127.0.0.1:${caPort}/dir"`, '    email: ops@slipway.test', '    challenge: tls-alpn-01'].join('\n'),
        },
      },
    });
  }, 60_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
    rmSync(work, { recursive: true, force: true });
  });

  it('says the CA refused the connection, in slipway status and the event', async () => {
    const deployed = await cli('deploy', 'production');
    expect(deployed.code, deployed.stdout + deployed.stderr).toBe(0);
    let error = '';
    await waitFor('the failed order in status', async () => {
      const s = JSON.parse((await cli('--json', 'status', 'production')).stdout) as { environments?: { tls?: { lastAttempt?: { ok: boolean; error?: string } } }[]; tls?: { lastAttempt?: { ok: boolean; error?: string } } };
      const attempt = (s.environments?.[0]?.tls ?? s.tls)?.lastAttempt;
      error = attempt?.error ?? '';
      return attempt?.ok === false;
    }, 30_000);
    expect(error).toContain(`cannot obtain a certificate for ${HOST} from https://127.0.0.1:${caPort}/dir: the CA cannot be reached (connect ECONNREFUSED 127.0.0.1:${caPort})`);
    expect(error).not.toContain('Cannot read properties');
    const status = await cli('status', 'production');
    expect(status.stdout).toContain('no certificate yet (acme)');
    expect(status.stdout).toContain('the CA cannot be reached (connect ECONNREFUSED');
    // The tls.renewal_failed event, as the server logs it (webhooks get the same message).
    expect(readFileSync(join(work, 'server.log'), 'utf8')).toMatch(/TLS certificate for shop\/production could not be obtained \(no certificate to serve yet\): .*the CA cannot be reached \(connect ECONNREFUSED/);
  }, 60_000);

  it('ends handshakes with a handshake_failure alert while there is no certificate, with SNI and without', async () => {
    expect(await handshakeError(port, HOST)).toBe('ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE');
    expect(await handshakeError(port)).toBe('ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE');
    expect(await handshakeError(port, 'other.slipway.test')).toBe('ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE');
  }, 30_000);
});
