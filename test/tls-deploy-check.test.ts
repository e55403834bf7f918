// Certificate files that cannot serve are refused at deploy, naming the file, and
// nothing is recorded. Before, the deploy said "succeeded" and the router served no
// certificate (a first release: every handshake failed) or the old one, with the
// error only in `slipway status` afterwards.

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiFetch, freePort, runCli, scratchDir, shutdownEverything, startServerProcess, waitFor, writeService, type ServerProcess } from './support/harness.ts';
import { makeTestCa, makeTestCertificate } from './support/tls-certs.ts';

/** A certificate that ended in 2020, signed with `openssl ca` (x509 cannot backdate). */
function expiredCertificate(dir: string): { cert: string; key: string } {
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'old-ca.key', '-out', 'old-ca.crt', '-subj', '/CN=old ca', '-days', '2']);
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'old.key', '-out', 'old.csr', '-subj', '/CN=shop.test']);
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '01\n');
  writeFileSync(join(dir, 'old-ca.cnf'), '[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\ndefault_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n');
  run(['ca', '-batch', '-config', 'old-ca.cnf', '-cert', 'old-ca.crt', '-keyfile', 'old-ca.key', '-in', 'old.csr', '-out', 'old.crt', '-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-notext']);
  return { cert: readFileSync(join(dir, 'old.crt'), 'utf8'), key: readFileSync(join(dir, 'old.key'), 'utf8') };
}

describe('a deploy whose certificate files cannot serve', { timeout: 120_000 }, () => {
  const work = scratchDir('slipway-tls-deploy-check-');
  const app = join(work, 'shop');
  const dataDir = join(work, '.slipway');
  let server: ServerProcess;
  let port = 0;
  const certFile = join(work, 'shop.crt');
  const keyFile = join(work, 'shop.key');
  const cli = (...args: string[]) => runCli(args, { cwd: app, dataDir, timeoutMs: 60_000 });

  beforeAll(async () => {
    port = await freePort();
    writeService(app, {
      service: 'shop',
      envs: { production: { instances: 1, port, extraYaml: ['hosts: [shop.test]', 'tls:', '  certificates:', `    - cert_file: ${certFile}`, `      key: { file: ${keyFile} }`].join('\n') } },
    });
    server = await startServerProcess(dataDir, 'server.log');
    const policy = await apiFetch(`${server.url}/api/policy`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: `environments:\n  '*':\n    secrets: { file: ['${work}/**'] }\n` }) });
    expect(policy.status, await policy.text()).toBe(200);
  });

  afterAll(async () => {
    await shutdownEverything(server?.url ?? null, dataDir);
  });

  const refused = async (what: RegExp) => {
    const d = await cli('deploy', 'production');
    expect(d.code, d.stdout + d.stderr).not.toBe(0);
    expect(d.stderr).toMatch(/E_TLS_CERTIFICATE/);
    expect(d.stderr).toMatch(what);
    // Nothing was recorded: no release, and the router holds no listener for it.
    const releases = await runCli(['--json', 'releases', 'production'], { cwd: app, dataDir });
    expect(releases.stdout + releases.stderr).not.toMatch(/"number":\s*1/);
    return d;
  };

  it('refuses a key that is not the certificate\'s, a missing file and an expired certificate; deploys good ones', async () => {
    const ca = makeTestCa(work);
    const good = makeTestCertificate(ca, 'shop', ['shop.test']);
    const other = makeTestCertificate(ca, 'other', ['shop.test']);
    writeFileSync(certFile, good.cert);
    writeFileSync(keyFile, other.key, { mode: 0o600 });
    const mismatch = await refused(/tls\.certificates\[0\] \(.*shop\.crt\): the key is not the certificate's/);
    expect(mismatch.stdout + mismatch.stderr).not.toContain(other.key.split('\n')[1]!);

    writeFileSync(keyFile, good.key, { mode: 0o600 });
    execFileSync('mv', [certFile, `${certFile}.away`]);
    await refused(/cannot read tls\.certificates\[0\]\.cert_file .*shop\.crt \(ENOENT\)/);
    execFileSync('mv', [`${certFile}.away`, certFile]);

    const old = expiredCertificate(work);
    writeFileSync(certFile, old.cert);
    writeFileSync(keyFile, old.key, { mode: 0o600 });
    await refused(/tls\.certificates\[0\] \(.*shop\.crt\) expired on .*2020/);

    writeFileSync(certFile, good.cert);
    writeFileSync(keyFile, good.key, { mode: 0o600 });
    const ok = await cli('deploy', 'production');
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
  });

  it('reports a certificate file that has ended on disk as a failed load, not "ok"', async () => {
    const old = expiredCertificate(work);
    writeFileSync(certFile, old.cert);
    writeFileSync(keyFile, old.key, { mode: 0o600 });
    await waitFor('the expired file reported', async () => /last load attempt .*failed: tls\.certificates\[0\] \(.*shop\.crt\) expired on .*2020/.test((await cli('status', 'production')).stdout), 30_000);
  });
});
