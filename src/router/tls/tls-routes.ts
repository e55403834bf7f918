// The `tls` part of an environment's routes in the table the server pushes: the
// certificates its listener serves (chosen by SNI), the plain-HTTP listener beside
// it (redirect to HTTPS, or served as well) and the ACME answers given while a
// certificate is being obtained: HTTP-01 on that plain listener, TLS-ALPN-01 on
// the TLS one.
//
// The private keys ride in the table because the router must serve them again
// after its own restart, before the server is back; they never leave the router
// as they came: routes.json holds them sealed (sealed-keys.ts) and GET /routes
// answers a fingerprint in their place (redactTableKeys).

import { createHash } from 'node:crypto';
import { z } from 'zod';

const PEM_CERT = /^-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----\s*$/;
const PEM_KEY = /^-----BEGIN (?:RSA |EC )?PRIVATE KEY-----[\s\S]+-----END (?:RSA |EC )?PRIVATE KEY-----\s*$|^redacted:sha256:[0-9a-f]{64}$/;

const certificateSchema = z.strictObject({
  /** PEM: the leaf first, then its chain. */
  cert: z.string().max(256 * 1024).regex(PEM_CERT, { message: 'must be PEM certificates (-----BEGIN CERTIFICATE-----)' }),
  /** PEM private key of the leaf. */
  key: z.string().max(64 * 1024).regex(PEM_KEY, { message: 'must be a PEM private key' }),
});

/** A host name the router answers a TLS-ALPN-01 challenge for (the SNI of the CA's handshake). */
const challengeHostSchema = z.string().regex(/^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/, { message: 'must be a lower-case host name' });

/** An ACME HTTP-01 token: base64url, as RFC 8555 §8.3 makes it. */
const tokenSchema = z.string().regex(/^[A-Za-z0-9_-]{16,256}$/, { message: 'must be an ACME token (base64url)' });

export function tlsRoutesSchema<L extends z.ZodType<string>>(listen: L) {
  return z.strictObject({
    /** In order: the first is what a client without SNI, or with a name none covers, gets. May be empty while ACME has none yet. */
    certificates: z.array(certificateSchema).max(100),
    /** The plain-HTTP listener of the environment: ACME HTTP-01 answers, then a redirect or the environment itself. */
    httpListen: listen.optional(),
    /** Plain HTTP on httpListen is answered 308 to https (except ACME challenges). */
    redirectHttp: z.boolean(),
    /** token → key authorization, answered at /.well-known/acme-challenge/<token> on httpListen. */
    challenges: z.record(tokenSchema, z.string().regex(/^[A-Za-z0-9_.-]{1,600}$/)).optional(),
    /** host name → the self-signed challenge certificate (RFC 8737) a handshake offering ALPN acme-tls/1 for that name gets. */
    alpnChallenges: z.record(challengeHostSchema, certificateSchema).optional(),
  });
}

export type TlsRoutes = z.infer<ReturnType<typeof tlsRoutesSchema>>;
export type TlsCertificate = TlsRoutes['certificates'][number];

/** What stands in for a private key outside the router's memory: a fingerprint, never the key. */
export function redactedKey(key: string): string {
  return key.startsWith('redacted:') ? key : `redacted:sha256:${createHash('sha256').update(key).digest('hex')}`;
}

/** A copy of a table's environments with every private key replaced by its fingerprint (GET /routes, drift reports). */
export function redactTableKeys<T extends { environments: Record<string, { tls?: TlsRoutes | undefined }> }>(table: T): T {
  const environments = Object.fromEntries(
    Object.entries(table.environments).map(([env, r]) => [env, r.tls ? { ...r, tls: redactKeys(r.tls) } : r]),
  );
  return { ...table, environments };
}

function redactKeys(tls: TlsRoutes): TlsRoutes {
  const redact = (c: TlsCertificate): TlsCertificate => ({ cert: c.cert, key: redactedKey(c.key) });
  return {
    ...tls,
    certificates: tls.certificates.map(redact),
    ...(tls.alpnChallenges ? { alpnChallenges: Object.fromEntries(Object.entries(tls.alpnChallenges).map(([host, c]) => [host, redact(c)])) } : {}),
  };
}
