// Obtains one certificate from an ACME CA with acme-client (RFC 8555), answering
// the challenge through the router: for HTTP-01 the key authorization is pushed in
// the route table and the CA fetches it from the environment's http_listen; for
// TLS-ALPN-01 (RFC 8737) a self-signed certificate carrying it is pushed and the CA
// gets it in a handshake offering acme-tls/1 on the environment's listen. Either
// is withdrawn after.
//
// acme-client's own pre-check (a GET to http://NAME/.well-known/... on port 80,
// or a handshake with NAME on port 443, from this machine) is skipped: the CA validates, and a server behind NAT or on
// another port cannot always reach its own public name.

import { readFile } from 'node:fs/promises';
import { Agent, get as httpsGet } from 'node:https';
import type acmeModule from 'acme-client';
import type { InternalAxiosRequestConfig } from 'axios';
import { SlipwayError, errorMessage } from '../../core/errors.ts';
import type { AcmeSettings } from '../../core/service-config.ts';

export interface Http01Responder {
  /** Serves `keyAuthorization` at /.well-known/acme-challenge/<token> on the environment's http_listen; resolves once the router does. */
  add(token: string, keyAuthorization: string): Promise<void>;
  remove(token: string): Promise<void>;
}

export interface TlsAlpn01Responder {
  /** Gives `certificate` (RFC 8737's, for `name`) to handshakes offering acme-tls/1 for `name` on the environment's listen; resolves once the router does. */
  add(name: string, certificate: IssuedCertificate): Promise<void>;
  remove(name: string): Promise<void>;
}

export interface IssuedCertificate {
  /** PEM: the leaf, then its chain. */
  cert: string;
  /** PEM private key (ECDSA P-256), made here for this certificate alone. */
  key: string;
}

/** One request to the CA; an order is a dozen of them, polls included. */
const REQUEST_TIMEOUT_MS = 15_000;
/** The one request that finds out why an order could not reach the CA. */
const PROBE_TIMEOUT_MS = 5_000;

type Acme = typeof acmeModule;
let loaded: Promise<Acme> | null = null;

/** acme-client (and its axios) is loaded on first use: ~0.4 s of CPU that servers without `acme:` never pay. */
function acmeClient(): Promise<Acme> {
  loaded ??= import('acme-client').then((m) => m.default);
  return loaded;
}

export async function newAccountKey(): Promise<string> {
  return (await (await acmeClient()).crypto.createPrivateEcdsaKey()).toString();
}

/**
 * One order for `names`: a new key, a CSR, the HTTP-01 challenges, the certificate.
 * Fails with E_TLS_ACME naming the directory and the CA's reason, never a key.
 */
export async function issueCertificate(o: { settings: AcmeSettings; names: string[]; accountKey: string; http01: Http01Responder; tlsAlpn01: TlsAlpn01Responder; retryRequests?: boolean }): Promise<IssuedCertificate> {
  const ca = o.settings.caFile === undefined ? undefined : await readFile(o.settings.caFile, 'utf8');
  const acme = await acmeClient();
  const client = new acme.Client({ directoryUrl: o.settings.directoryUrl, accountKey: o.accountKey, backoffAttempts: 5, backoffMin: 500, backoffMax: 5_000 });
  const trust = directoryRequests(acme, o.settings.directoryUrl, ca, o.retryRequests ?? true);
  try {
    const key = (await acme.crypto.createPrivateEcdsaKey()).toString();
    const [, csr] = await acme.crypto.createCsr({ commonName: o.names[0]!, altNames: o.names }, key);
    const cert = await client.auto({
      csr,
      email: o.settings.email,
      termsOfServiceAgreed: true,
      // Only the configured challenge: the other needs a listener the admin may not have opened.
      challengePriority: [o.settings.challenge],
      skipChallengeVerification: true,
      challengeCreateFn: async (authz, challenge, keyAuthorization) => {
        if (challenge.type !== o.settings.challenge) throw new Error(`the CA offered ${challenge.type}; this environment answers ${o.settings.challenge}`);
        if (challenge.type === 'http-01') await o.http01.add(challenge.token, keyAuthorization);
        else {
          const [key, cert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization, await acme.crypto.createPrivateEcdsaKey());
          await o.tlsAlpn01.add(authz.identifier.value, { cert: cert.toString(), key: key.toString() });
        }
      },
      challengeRemoveFn: async (authz, challenge) => {
        if (challenge.type === 'http-01') await o.http01.remove(challenge.token);
        else if ((challenge.type as string) === 'tls-alpn-01') await o.tlsAlpn01.remove(authz.identifier.value);
      },
    });
    return { cert, key };
  } catch (e) {
    const reason = acmeReason(e) ?? (await unreachableReason(o.settings.directoryUrl, ca)) ?? errorMessage(e);
    throw new SlipwayError('E_TLS_ACME', `cannot obtain a certificate for ${o.names.join(', ')} from ${o.settings.directoryUrl}: ${reason}`, { names: o.names, directory: o.settings.directoryUrl }, { cause: e });
  } finally {
    trust.release();
  }
}

/**
 * acme-client talks through its own axios instance, with no timeout: requests to
 * this directory's origin (and only those) get one, so a CA that stops answering
 * fails the order instead of hanging it, and, with `ca`, an agent that trusts it.
 * (acme-client's retry settings are process-wide, so they are not touched.)
 * Per order, not process-wide, so two servers in one process keep their own.
 */
function directoryRequests(acme: Acme, directoryUrl: string, ca: string | undefined, retryRequests: boolean): { release(): void } {
  const origin = new URL(directoryUrl).origin;
  const agent = ca === undefined ? null : new Agent({ ca, keepAlive: false });
  const id = acme.axios.interceptors.request.use((config: InternalAxiosRequestConfig) => {
    if (typeof config.url === 'string' && config.url.startsWith(origin)) {
      config.timeout = REQUEST_TIMEOUT_MS;
      // acme-client retries a refused or failed request up to 5 times, 75 s in all: off when the caller retries the whole order soon anyway.
      if (!retryRequests && !('retryAttempt' in config)) Object.assign(config, { retryAttempt: Number.MAX_SAFE_INTEGER });
      if (agent !== null) config.httpsAgent = agent;
    }
    return config;
  });
  return {
    release() {
      acme.axios.interceptors.request.eject(id);
      agent?.destroy();
    },
  };
}

/** The CA's problem detail when there is one (RFC 7807). */
function acmeReason(e: unknown): string | undefined {
  return (e as { response?: { data?: { detail?: string } } }).response?.data?.detail;
}

/**
 * Why the directory cannot be reached, when it cannot. acme-client loses the
 * network error of its last request (a CA refusing connections or not answering
 * fails the order with "Cannot read properties of undefined (reading 'config')"),
 * so one plain GET of the directory finds the reason again: refused, no answer,
 * a certificate this machine does not trust. Undefined when the directory answers.
 */
function unreachableReason(directoryUrl: string, ca: string | undefined): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = httpsGet(directoryUrl, { ...(ca === undefined ? {} : { ca }), agent: false, timeout: PROBE_TIMEOUT_MS }, (res) => {
      res.resume();
      resolve(undefined);
    });
    req.once('timeout', () => req.destroy(new Error(`no answer within ${PROBE_TIMEOUT_MS / 1000}s`)));
    req.once('error', (e) => resolve(`the CA cannot be reached (${errorMessage(e)})`));
  });
}
