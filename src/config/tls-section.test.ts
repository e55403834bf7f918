import { describe, expect, it } from 'vitest';
import { validateConfigText } from './load-config.ts';

const withTls = (tls: string, hosts = '    hosts: [shop.example.com]') => `service: shop
run:
  command: node server.js
environments:
  production:
    listen: 0.0.0.0:8443
${hosts}
${tls}
`;

function issuesOf(text: string): string[] {
  const v = validateConfigText(text, 'slipway.yaml');
  return v.ok ? [] : v.issues.map((i) => `${i.line}:${i.col} ${i.path}: ${i.message}`);
}

function tlsOf(text: string) {
  const v = validateConfigText(text, 'slipway.yaml');
  expect(v.ok, JSON.stringify(!v.ok && v.issues)).toBe(true);
  return v.ok ? v.config.environments.production!.tls : undefined;
}

describe('tls in slipway.yaml', () => {
  it('reads certificate files with the key as a secret reference', () => {
    const tls = tlsOf(withTls(`    tls:
      http_listen: 0.0.0.0:8080
      redirect_http: true
      certificates:
        - cert_file: /etc/slipway/shop.crt
          key: { file: /run/secrets/shop.key }
        - cert_file: /etc/slipway/www.crt
          key: { env: SLIPWAY_SECRET_WWW_KEY }`));
    expect(tls).toEqual({
      httpListen: { host: '0.0.0.0', port: 8080 },
      redirectHttp: true,
      source: { kind: 'files', certificates: [{ certFile: '/etc/slipway/shop.crt', key: { provider: 'file', path: '/run/secrets/shop.key' } }, { certFile: '/etc/slipway/www.crt', key: { provider: 'env', name: 'SLIPWAY_SECRET_WWW_KEY' } }] },
    });
  });

  it('reads acme with its defaults: http-01, renewal 30 days before expiry', () => {
    const tls = tlsOf(withTls(`    tls:
      http_listen: 80
      acme: { directory: "https://127.0.0.1:14000/dir", email: ops@example.com }`));
    expect(tls).toEqual({ httpListen: { host: '127.0.0.1', port: 80 }, redirectHttp: false, source: { kind: 'acme', directoryUrl: 'https://127.0.0.1:14000/dir', email: 'ops@example.com', challenge: 'http-01', renewBeforeMs: 30 * 86_400_000 } });
  });

  it('reads acme with tls-alpn-01, which needs no http_listen', () => {
    const tls = tlsOf(withTls(`    tls:
      acme: { directory: "https://127.0.0.1:14000/dir", email: ops@example.com, challenge: tls-alpn-01 }`));
    expect(tls).toEqual({ redirectHttp: false, source: { kind: 'acme', directoryUrl: 'https://127.0.0.1:14000/dir', email: 'ops@example.com', challenge: 'tls-alpn-01', renewBeforeMs: 30 * 86_400_000 } });
  });

  it.each([
    ['neither source', '    tls: { http_listen: 80 }', /8:10 environments.production.tls: give exactly one of certificates: .* or acme:/],
    ['both sources', '    tls:\n      http_listen: 80\n      certificates: [{ cert_file: /a.crt, key: { file: /a.key } }]\n      acme: { directory: "https://ca.example/dir", email: a@b.co }', /environments.production.tls: give exactly one/],
    ['a key written in the file', '    tls:\n      certificates: [{ cert_file: /a.crt, key: "-----BEGIN PRIVATE KEY-----" }]', /environments.production.tls.certificates\[0\].key: .*vault.*file.*env|a map with keys vault, file, env/],
    ['a relative cert path', '    tls:\n      certificates: [{ cert_file: certs/a.crt, key: { file: /a.key } }]', /tls.certificates\[0\].cert_file: expected an absolute path of a PEM certificate file/],
    ['redirect without http_listen', '    tls:\n      redirect_http: true\n      certificates: [{ cert_file: /a.crt, key: { file: /a.key } }]', /tls.redirect_http: redirect_http needs http_listen/],
    ['acme without http_listen', '    tls:\n      acme: { directory: "https://ca.example/dir", email: a@b.co }', /tls.acme: acme with challenge http-01 needs http_listen/],
    ['acme over http', '    tls:\n      http_listen: 80\n      acme: { directory: "http://ca.example/dir", email: a@b.co }', /tls.acme.directory: expected the https:\/\/ URL of an ACME directory/],
    ['an unknown challenge', '    tls:\n      http_listen: 80\n      acme: { directory: "https://ca.example/dir", email: a@b.co, challenge: dns-01 }', /tls.acme.challenge: expected http-01 \(.*\) or tls-alpn-01 \(.*\), got "dns-01"/],
    ['a misspelt key', '    tls:\n      certificats: []', /9:7 environments.production.tls.certificats: unknown key; did you mean "certificates"/],
    ['http_listen on the listen port', '    tls:\n      http_listen: 0.0.0.0:8443\n      certificates: [{ cert_file: /a.crt, key: { file: /a.key } }]', /tls.http_listen: http_listen must differ from listen/],
  ])('refuses %s, naming the path', (_, tls, message) => {
    expect(issuesOf(withTls(tls)).join('\n')).toMatch(message);
  });

  it('refuses acme without hosts, and with a wildcard host', () => {
    const acme = '    tls:\n      http_listen: 80\n      acme: { directory: "https://ca.example/dir", email: a@b.co }';
    expect(issuesOf(withTls(acme, '')).join('\n')).toMatch(/tls.acme: acme certifies the environment's hosts: name them in hosts:/);
    expect(issuesOf(withTls(acme, '    hosts: ["*.example.com"]')).join('\n')).toMatch(/cannot certify the wildcard \*\.example\.com/);
  });
});
