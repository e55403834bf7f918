// Debian's pebble (Let's Encrypt's ACME test server) on loopback, for real ACME
// orders in tests. Its HTTP-01 validation connects to the router: the test host
// names resolve to 127.0.0.1 through pebble-challtestsrv's mock DNS (its other
// listeners off), pebble's httpPort is the router's http_listen port (HTTP-01)
// and its tlsPort the environment's listen port (TLS-ALPN-01). No
// PEBBLE_VA_ALWAYS_VALID: every challenge is fetched and checked for real.

import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { freePort } from './harness.ts';
import { makeTestCa, makeTestCertificate } from './tls-certs.ts';

export interface Pebble {
  directoryUrl: string;
  /** PEM file of the CA that signed pebble's own HTTPS certificate (tls.acme.ca_file). */
  caFile: string;
  /** PEM of the root that signs the certificates pebble issues (a client verifies served certificates with it). */
  issuingRoot(): Promise<string>;
  stop(): Promise<void>;
}

function started(child: ChildProcess, what: string, pattern: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (c: Buffer) => {
      out += c.toString();
      if (pattern.test(out)) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${what} exited (${code}):\n${out}`)));
    setTimeout(() => reject(new Error(`${what} did not start:\n${out}`)), 15_000).unref();
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** `httpPort`: where pebble checks HTTP-01 (the router's http_listen); `tlsPort`: where it checks TLS-ALPN-01 (the environment's listen). */
export async function startPebble(o: { dir: string; httpPort: number; tlsPort?: number; validitySeconds?: number }): Promise<Pebble> {
  const ca = makeTestCa(o.dir, 'pebble listener CA');
  const listenerCert = makeTestCertificate(ca, 'pebble', ['localhost', 'IP:127.0.0.1']);
  const [acmePort, mgmtPort, dnsPort, challMgmtPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const config = join(o.dir, 'pebble-config.json');
  writeFileSync(config, JSON.stringify({
    pebble: {
      listenAddress: `127.0.0.1:${acmePort}`,
      managementListenAddress: `127.0.0.1:${mgmtPort}`,
      certificate: listenerCert.certFile,
      privateKey: listenerCert.keyFile,
      httpPort: o.httpPort,
      tlsPort: o.tlsPort ?? 5001,
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
      ...(o.validitySeconds ? { certificateValidityPeriod: o.validitySeconds } : {}),
    },
  }));
  const dns = spawn('pebble-challtestsrv', ['-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', `127.0.0.1:${challMgmtPort}`, '-defaultIPv4', '127.0.0.1', '-defaultIPv6', ''], { stdio: ['ignore', 'pipe', 'pipe'] });
  await started(dns, 'pebble-challtestsrv', /Starting challenge servers|DNS/);
  // No random sleep before validation, no nonces refused at random, no authorization reused (each renewal is validated again).
  const env = { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' };
  const pebble = spawn('pebble', ['-config', config, '-dnsserver', `127.0.0.1:${dnsPort}`], { stdio: ['ignore', 'pipe', 'pipe'], env });
  await started(pebble, 'pebble', /Listening on/);
  const agent = new Agent({ ca: listenerCert.cert ? ca.cert : undefined });
  return {
    directoryUrl: `https://127.0.0.1:${acmePort}/dir`,
    caFile: ca.certFile,
    async issuingRoot() {
      const { request } = await import('node:https');
      return new Promise((resolve, reject) => {
        request({ host: '127.0.0.1', port: mgmtPort, path: '/roots/0', agent }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve(body));
        }).on('error', reject).end();
      });
    },
    async stop() {
      agent.destroy();
      await Promise.all([stopChild(pebble), stopChild(dns)]);
    },
  };
}
