// The `tls` part of an environment's routes in the table the server pushes: the
// certificates its listener serves (chosen by SNI), the plain-HTTP listener beside
// it (redirect to HTTPS, or served as well) and the ACME HTTP-01 answers that
// listener gives while a certificate is being obtained.
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
    Object.entries(table.environments).map(([env, r]) => [env, r.tls ? { ...r, tls: { ...r.tls, certificates: r.tls.certificates.map((c) => ({ cert: c.cert, key: redactedKey(c.key) })) } } : r]),
  );
  return { ...table, environments };
}
