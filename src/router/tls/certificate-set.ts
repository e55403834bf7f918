// Which certificate a TLS handshake gets: by its SNI name, the exact name of a
// certificate first, then a wildcard covering it (one label), else the default one
// (the first certificate of the first environment on the listener, in table
// order). A client without SNI (an IP address in its URL) gets the default too.
// Built whole for each table and swapped on the listener: a handshake already
// under way keeps what it got, connections already open are not touched, so a
// renewed certificate takes over with no connection dropped.

import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import { errorMessage } from '../../core/errors.ts';
import type { TlsCertificate } from './tls-routes.ts';

/** What `slipway status` and the router's /status tell of a certificate: never its key. */
export interface CertificateInfo {
  names: string[];
  issuer: string;
  notBefore: string;
  notAfter: string;
  fingerprint256: string;
}

interface Loaded {
  context: SecureContext;
  info: CertificateInfo;
}

export class CertificateSet {
  private readonly exact = new Map<string, SecureContext>();
  private readonly wildcards = new Map<string, SecureContext>();
  readonly defaultContext: SecureContext | null = null;
  /** The default's PEM: a handshake without SNI never reaches the SNI callback, so the server itself holds it too. */
  readonly defaultPem: TlsCertificate | null = null;
  readonly infos: CertificateInfo[] = [];
  /** Certificates that could not be loaded (a key that does not match, a broken PEM): reported, the rest serve. */
  readonly errors: string[] = [];

  /** ACME TLS-ALPN-01: host name → the challenge certificate's context, for handshakes offering acme-tls/1 only. */
  private readonly alpnChallenges = new Map<string, SecureContext>();

  /**
   * `cache` keeps contexts across tables (keyed by cert and key), so pushing an unchanged table builds nothing.
   * `alpnChallenges`: host name → challenge certificate, while an ACME order is under way (not cached: they live minutes).
   */
  constructor(certificates: readonly TlsCertificate[], cache: Map<string, Loaded>, alpnChallenges: readonly (readonly [string, TlsCertificate])[] = []) {
    for (const [host, c] of alpnChallenges) {
      try {
        if (!this.alpnChallenges.has(host)) this.alpnChallenges.set(host, createSecureContext({ cert: c.cert, key: c.key }));
      } catch (e) {
        this.errors.push(`the TLS-ALPN-01 challenge certificate for ${host} cannot be served: ${errorMessage(e)}`);
      }
    }
    for (const c of certificates) {
      const loaded = load(c, cache);
      if (typeof loaded === 'string') {
        this.errors.push(loaded);
        continue;
      }
      this.infos.push(loaded.info);
      if (this.defaultContext === null) {
        this.defaultContext = loaded.context;
        this.defaultPem = c;
      }
      for (const name of loaded.info.names) {
        if (name.startsWith('*.')) {
          if (!this.wildcards.has(name.slice(1))) this.wildcards.set(name.slice(1), loaded.context);
        } else if (!this.exact.has(name)) this.exact.set(name, loaded.context);
      }
    }
  }

  get isEmpty(): boolean {
    return this.defaultContext === null;
  }

  /** True when a TLS-ALPN-01 challenge is being answered for this SNI name. */
  hasAlpnChallenge(servername: string): boolean {
    return this.alpnChallenges.size > 0 && this.alpnChallenges.has(normalName(servername));
  }

  /** The challenge certificate's context for a handshake that chose acme-tls/1 (hasAlpnChallenge said so). */
  alpnChallengeContext(servername: string): SecureContext | null {
    return this.alpnChallenges.get(normalName(servername)) ?? null;
  }

  /** The context for an SNI name; the default for a name no certificate covers; null with no certificate at all. */
  contextFor(servername: string): SecureContext | null {
    const name = normalName(servername);
    const exact = this.exact.get(name);
    if (exact !== undefined) return exact;
    const dot = name.indexOf('.');
    if (dot > 0) {
      const wild = this.wildcards.get(name.slice(dot));
      if (wild !== undefined) return wild;
    }
    return this.defaultContext;
  }
}

export type CertificateCache = Map<string, Loaded>;

function normalName(servername: string): string {
  return servername.toLowerCase().replace(/\.$/, '');
}

function load(c: TlsCertificate, cache: Map<string, Loaded>): Loaded | string {
  const cacheKey = `${c.cert}\0${c.key}`;
  const hit = cache.get(cacheKey);
  if (hit !== undefined) return hit;
  let info: CertificateInfo;
  try {
    info = certificateInfo(c.cert);
  } catch (e) {
    return `a certificate cannot be read: ${errorMessage(e)}`;
  }
  try {
    const loaded = { context: createSecureContext({ cert: c.cert, key: c.key }), info };
    cache.set(cacheKey, loaded);
    return loaded;
  } catch (e) {
    // Node's message names the problem (key mismatch, bad PEM), never the key's bytes.
    return `the certificate for ${info.names.join(', ')} cannot be served with its key: ${errorMessage(e)}`;
  }
}

/** Names (subjectAltName DNS entries, else the CN), issuer and validity of the leaf of a PEM chain. */
export function certificateInfo(pem: string): CertificateInfo {
  const x = new X509Certificate(pem);
  const sans = (x.subjectAltName ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4).toLowerCase());
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(x.subject)?.[1]?.toLowerCase();
  return {
    names: sans.length > 0 ? sans : cn ? [cn] : [],
    issuer: x.issuer.replace(/\n/g, ', '),
    notBefore: new Date(x.validFrom).toISOString(),
    notAfter: new Date(x.validTo).toISOString(),
    fingerprint256: x.fingerprint256,
  };
}
