// Issue 18, ACME: a real slipway server obtains a certificate for a test host from
// Debian's pebble on loopback (real HTTP-01 validation: pebble fetches the token
// from the router's http_listen, the host name resolved to 127.0.0.1 by
// pebble-challtestsrv's DNS), the router serves it by SNI, renews it early
// (pebble issues it for a short validity) and swaps it under load; with the CA
// gone, the renewal failure is an event, a metric and a webhook, and the old
// certificate keeps serving.

import { mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminToken, apiFetch, freePort, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';
import { startPebble, type Pebble } from './support/pebble.ts';
import { sampleSum } from './support/prom-text.ts';
import { https1Get, http2Get, peerCertificate } from './support/tls-clients.ts';

const HOST = 'shop.slipway.test';
/** pebble issues for this long; the server renews `renew_before` ahead of expiry, so about 8 s after each issue. */
const VALIDITY_S = 30;

describe('ACME certificates from pebble, served and renewed by the router', () => {
  let app: string;
  let dataDir: string;
  let work: string;
  let server: ServerProcess;
  let pebble: Pebble;
  let root: string;
  let port: number;
  let httpPort: number;
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir, timeoutMs: 90_000 });
  const serial = async () => (await peerCertificate({ port, servername: HOST })).serialNumber;
  /** slipway_events_total for a type, from the server's /metrics. */
  const eventCount = async (type: string): Promise<number> => {
    const text = await (await apiFetch(`${server.url}/metrics`)).text();
    return Number(new RegExp(`slipway_events_total\\{type="${type.replace('.', '\\.')}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  };
  const serverLog = () => readFileSync(join(work, 'server.log'), 'utf8');
  const metricsText = async () => (await apiFetch(`${server.url}/metrics`)).text();
  /** A webhook receiver on loopback, subscribed to tls.* events: what a team's chat would get. */
  let hook: Server;
  let hookUrl: string;
  const hooked: { type: string; env: string; level: string; message: string; data: Record<string, unknown> }[] = [];

  beforeAll(async () => {
    work = scratchDir('slipway-acme-');
    app = join(work, 'hello');
    dataDir = join(work, '.slipway');
    [port, httpPort] = [await freePort(), await freePort()];
    mkdirSync(join(work, 'pebble'));
    pebble = await startPebble({ dir: join(work, 'pebble'), httpPort, validitySeconds: VALIDITY_S });
    root = await pebble.issuingRoot();
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        hooked.push(JSON.parse(body) as (typeof hooked)[number]);
        res.end('ok');
      });
    });
    await new Promise<void>((ok) => hook.listen(0, '127.0.0.1', ok));
    hookUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}/hooks/tls`;
    server = await startServerProcess(dataDir, 'server.log', { ...process.env, SLIPWAY_TLS_CHECK_MS: '1000' });
    // The server reads the CA file and calls the ACME directory only where the admin's policy says.
    const policy = await apiFetch(`${server.url}/api/policy`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `environments:\n  '*':\n    secrets: { file: ['${work}/**'] }\n    outbound: { allow: ['${new URL(pebble.directoryUrl).origin}/**', '${new URL(hookUrl).origin}/**'] }\n` }) });
    expect(policy.status, await policy.text()).toBe(200);
    writeService(app, {
      envs: {
        production: {
          instances: 1,
          port,
          extraYaml: [
            `hosts: [${HOST}]`,
            'tls:',
            `  http_listen: 127.0.0.1:${httpPort}`,
            '  redirect_http: true',
            '  acme:',
            `    directory: "${pebble.directoryUrl}"`,
            '    email: ops@slipway.test',
            `    renew_before: ${VALIDITY_S - 8}s`,
            `    ca_file: ${pebble.caFile}`,
            'notifications:',
            `  - url: ${hookUrl}`,
            '    events: [tls.*]',
          ].join('\n'),
        },
      },
    });
  }, 60_000);

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
    await pebble?.stop();
    hook?.close();
  });

  it('obtains a certificate by HTTP-01 through the router and serves it by SNI over HTTP/1.1 and HTTP/2', async () => {
    const deployed = await cli('deploy', 'production');
    expect(deployed.code, deployed.stdout + deployed.stderr).toBe(0);
    await waitFor('the ACME certificate served', async () => (await https1Get({ port, host: HOST, ca: root }).catch(() => null))?.status === 200, 40_000);
    const h1 = await https1Get({ port, host: HOST, ca: root });
    expect(h1.certCn).toBe(HOST);
    const h2 = await http2Get({ port, host: HOST, ca: root });
    expect(h2).toMatchObject({ status: 200, alpn: 'h2' });
    const cert = await peerCertificate({ port, servername: HOST });
    expect(cert.issuer.CN).toMatch(/Pebble Intermediate/);
    // Plain HTTP is redirected.
    const plain = await request(`http://127.0.0.1:${httpPort}/x`, { headers: { host: HOST } });
    expect(plain.statusCode).toBe(308);
    expect(plain.headers.location).toBe(`https://${HOST}:${port}/x`);
    await plain.body.dump();
    expect(await eventCount('tls.certificate_issued')).toBeGreaterThanOrEqual(1);
    // slipway status shows the host's certificate: issuer, expiry, last renewal attempt.
    const status = await cli('status', 'production');
    expect(status.stdout).toContain(`https://127.0.0.1:${port}`);
    expect(status.stdout).toMatch(new RegExp(`${HOST.replace(/\./g, '\\.')}  issuer CN=Pebble Intermediate CA [0-9a-f]+, issued \\d{4}-\\d\\d-\\d\\d, expires \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC`));
    expect(status.stdout).toMatch(/last renewal attempt .*: ok; next renewal/);
  }, 90_000);

  it('renews before expiry and swaps the certificate under load with 0 failed requests', async () => {
    const first = await serial();
    const agent = new HttpsAgent({ keepAlive: true, maxSockets: 4 });
    let ok = 0;
    let failed = 0;
    const failures: string[] = [];
    let isDone = false;
    const worker = async (fresh: boolean) => {
      while (!isDone) {
        try {
          const r = await https1Get({ port, host: HOST, ca: root, ...(fresh ? {} : { agent }) });
          if (r.status === 200) ok++;
          else failures.push(String(r.status));
        } catch (e) {
          failed++;
          failures.push((e as Error).message);
        }
      }
    };
    const workers = [worker(false), worker(false), worker(false), worker(true)];
    try {
      await waitFor('a renewed certificate', async () => (await serial()) !== first, 30_000);
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      isDone = true;
      await Promise.all(workers);
      agent.destroy();
    }
    expect(failures.slice(0, 5)).toEqual([]);
    expect(failed).toBe(0);
    expect(ok).toBeGreaterThan(20);
  }, 60_000);

  it('keeps serving the old certificate when the CA is gone, and reports the failure as an event, a metric and a webhook', async () => {
    const before = await serial();
    await pebble.stop();
    await waitFor('a tls.renewal_failed event', async () => (await eventCount('tls.renewal_failed')) >= 1, 40_000);
    // The log line may reach the file a moment after the event is stored.
    await waitFor('the failure in the server log', () => /TLS certificate for (?:[a-z0-9-]+\/)?production could not be obtained \(the certificate in use keeps serving\)/.test(serverLog()), 10_000);
    // A metric by environment, and a notification to the environment's webhook.
    expect(sampleSum(await metricsText(), 'slipway_tls_renewal_failures_total', { env: 'hello/production', source: 'acme' })).toBeGreaterThanOrEqual(1);
    await waitFor('the webhook to get the failure', () => hooked.some((e) => e.type === 'tls.renewal_failed'), 20_000);
    const failure = hooked.find((e) => e.type === 'tls.renewal_failed')!;
    expect(failure).toMatchObject({ env: 'hello/production', level: 'error', data: { source: 'acme' } });
    expect(failure.message).toMatch(/could not be obtained \(the certificate in use keeps serving\): cannot obtain a certificate for shop\.slipway\.test/);
    expect(JSON.stringify(hooked)).not.toContain('PRIVATE KEY');
    // The renewal before was notified too. (The first certificate may be obtained before the
    // release that names the webhook is in force, so only the renewal's is certain.)
    await waitFor('the webhook to get the renewed certificate', () => hooked.some((e) => e.type === 'tls.certificate_issued'), 20_000);
    expect(await serial()).toBe(before);
    expect((await https1Get({ port, host: HOST, ca: root })).status).toBe(200);
    const status = await cli('--json', 'status', 'production');
    const tls = (JSON.parse(status.stdout) as { environments?: { tls?: { lastAttempt: { ok: boolean; error: string }; certificates: unknown[] } }[] } & { tls?: unknown });
    const env = (tls.environments?.[0] ?? tls) as { tls: { lastAttempt: { ok: boolean; error: string }; certificates: unknown[] } };
    expect(env.tls.lastAttempt).toMatchObject({ ok: false, error: expect.stringMatching(/cannot obtain a certificate for shop\.slipway\.test/) });
    expect(env.tls.certificates).toHaveLength(1);
    // The expiry of the certificate still served, for alerts that do not wait for a failure.
    const served = await peerCertificate({ port, servername: HOST });
    expect(sampleSum(await metricsText(), 'slipway_tls_certificate_expiry_timestamp_seconds', { env: 'hello/production', names: HOST })).toBe(Math.floor(Date.parse(served.valid_to) / 1000));
    expect(status.stdout).not.toContain('PRIVATE KEY');
  }, 60_000);

  it('keeps the ACME account key and the certificate\'s key out of the data directory in plain text', () => {
    const token = adminToken(dataDir);
    expect(token).not.toBeNull();
    for (const file of ['.slipway/state.db', '.slipway/state.db-wal', '.slipway/router/routes.json', 'server.log', '.slipway/router/router.log']) {
      let text = '';
      try {
        text = readFileSync(join(work, file)).toString('latin1');
      } catch {
        continue;
      }
      expect(text, file).not.toContain('PRIVATE KEY');
    }
  });
});
