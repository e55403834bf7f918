// An environment's `tls:`: HTTPS on its `listen:` with certificate files (the key
// given as a secret reference, so slipway.yaml and the data directory never hold
// it in plain text) or certificates from an ACME CA, and an optional
// plain-HTTP listener that redirects to HTTPS. ACME proves the names by HTTP-01
// (on that plain listener) or TLS-ALPN-01 (on the TLS listener itself). The router serves it
// (src/router/tls/); the engine reads the files and runs ACME (src/engine/tls/).

import { z } from 'zod';
import type { AcmeChallenge, AcmeSettings, TlsCertificateFiles, TlsSettings } from '../core/service-config.ts';
import { field, longDurationMs, listenAddress, matching, refusal } from './fields.ts';
import { section } from './section.ts';
import { secretReference } from './secrets-section.ts';

export const TLS_DEFAULTS = { renew_before: '30d', challenge: 'http-01', redirect_http: false } as const;

const absolutePath = (what: string) => matching(`an absolute path of ${what} on the server's machine, such as /etc/slipway/shop.crt`, /^\/\S*[^/\s]$/);

const certificateEntry = section({
  cert_file: absolutePath('a PEM certificate file (the certificate, then its chain)'),
  key: secretReference,
}).transform((c) => ({ certFile: c.cert_file, key: c.key }));

const booleanField = field('true or false', (v) => (typeof v === 'boolean' ? v : null));

const challenge = field<AcmeChallenge>('http-01 (the CA fetches a token over plain HTTP from http_listen) or tls-alpn-01 (the CA makes a TLS handshake with listen)', (v) => (v === 'http-01' || v === 'tls-alpn-01' ? v : null));

const acme = section({
  directory: field('the https:// URL of an ACME directory, such as https://acme-v02.api.letsencrypt.org/directory', (v) => {
    if (typeof v !== 'string') return null;
    try {
      const url = new URL(v);
      return url.protocol === 'https:' ? url.toString() : null;
    } catch {
      return null;
    }
  }),
  email: matching('a contact e-mail address for the ACME account, such as ops@example.com', /^[^\s@]+@[^\s@]+\.[^\s@]+$/),
  challenge: challenge.prefault(TLS_DEFAULTS.challenge),
  renew_before: longDurationMs.prefault(TLS_DEFAULTS.renew_before),
  ca_file: absolutePath('a PEM CA certificate to trust for the directory (a private CA, a test server)').optional(),
}).transform((a): AcmeSettings => ({
  kind: 'acme',
  directoryUrl: a.directory,
  email: a.email,
  challenge: a.challenge,
  renewBeforeMs: a.renew_before,
  ...(a.ca_file !== undefined ? { caFile: a.ca_file } : {}),
}));

export const tlsSection = section({
  http_listen: listenAddress.optional(),
  redirect_http: booleanField.prefault(TLS_DEFAULTS.redirect_http),
  certificates: z
    .array(certificateEntry, { error: (iss) => refusal('a list of { cert_file, key } entries', iss.input) })
    .min(1, 'list at least one certificate, or use acme:')
    .optional(),
  acme: acme.optional(),
})
  .superRefine((t, ctx) => {
    // Misspelt keys are reported as such; "give one of" beside them would be noise.
    if (Object.keys(t).some((k) => !['http_listen', 'redirect_http', 'certificates', 'acme'].includes(k))) return;
    if ((t.certificates === undefined) === (t.acme === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give exactly one of certificates: (files you manage) or acme: (certificates slipway obtains)' });
    }
    if (t.redirect_http && t.http_listen === undefined) {
      ctx.addIssue({ code: 'custom', path: ['redirect_http'], message: 'redirect_http needs http_listen: the plain-HTTP address to redirect from (e.g. 0.0.0.0:80)' });
    }
    if (t.acme !== undefined && t.acme.challenge === 'http-01' && t.http_listen === undefined) {
      ctx.addIssue({ code: 'custom', path: ['acme'], message: 'acme with challenge http-01 needs http_listen: the CA checks http://HOST/.well-known/acme-challenge/ on port 80 (e.g. http_listen: 0.0.0.0:80)' });
    }
  })
  .transform((t): TlsSettings => ({
    ...(t.http_listen !== undefined ? { httpListen: t.http_listen } : {}),
    redirectHttp: t.redirect_http,
    source: t.acme ?? ({ kind: 'files', certificates: t.certificates ?? [] } satisfies TlsCertificateFiles),
  }));

/** Rules between tls: and the environment's other keys (schema.ts calls it in the environment's superRefine). */
export function checkTlsAgainstEnvironment(e: { tls?: TlsSettings | undefined; hosts?: string[] | undefined; listen: { host: string; port: number } }, ctx: z.RefinementCtx): void {
  const tls = e.tls;
  // tls: itself was refused (its issues are reported): nothing to compare.
  if (tls === undefined || typeof tls.source !== 'object') return;
  if (tls.source.kind === 'acme') {
    if (e.hosts === undefined) ctx.addIssue({ code: 'custom', path: ['tls', 'acme'], message: 'acme certifies the environment\'s hosts: name them in hosts: (e.g. hosts: [shop.example.com])' });
    const wild = e.hosts?.find((h) => h.startsWith('*.'));
    if (wild !== undefined) ctx.addIssue({ code: 'custom', path: ['tls', 'acme'], message: `acme with ${tls.source.challenge} cannot certify the wildcard ${wild} (that needs dns-01); list the names, or use certificates:` });
  }
  if (tls.httpListen !== undefined && tls.httpListen.port === e.listen.port && tls.httpListen.host === e.listen.host) {
    ctx.addIssue({ code: 'custom', path: ['tls', 'http_listen'], message: 'http_listen must differ from listen: one port cannot speak both HTTP and HTTPS' });
  }
}
