// Test certificates made by the real openssl: a CA of the test's own and leaf
// certificates it signs, for the names a test asks. Files in a scratch dir; the
// PEM text is returned too.

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCa {
  dir: string;
  certFile: string;
  keyFile: string;
  cert: string;
}

export interface TestCertificate {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makeTestCa(dir: string, name = 'slipway test CA'): TestCa {
  const keyFile = join(dir, 'ca.key');
  const certFile = join(dir, 'ca.crt');
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${name}`], dir);
  return { dir, certFile, keyFile, cert: readFileSync(certFile, 'utf8') };
}

/** A leaf for `names` (DNS subjectAltNames, or `IP:...` entries; the first is the CN), signed by the CA, valid `days`. */
export function makeTestCertificate(ca: TestCa, file: string, names: string[], days = 2): TestCertificate {
  const keyFile = join(ca.dir, `${file}.key`);
  const csrFile = join(ca.dir, `${file}.csr`);
  const certFile = join(ca.dir, `${file}.crt`);
  const extFile = join(ca.dir, `${file}.ext`);
  writeFileSync(extFile, `subjectAltName=${names.map((n) => (n.startsWith('IP:') ? n : `DNS:${n}`)).join(',')}\nextendedKeyUsage=serverAuth\n`);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', csrFile, '-subj', `/CN=${names[0]}`], ca.dir);
  openssl(['x509', '-req', '-in', csrFile, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial', '-out', certFile, '-days', String(days), '-extfile', extFile], ca.dir);
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}
