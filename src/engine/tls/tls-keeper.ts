// The certificates the router serves, per environment with `tls:`: read from the
// files slipway.yaml names (the key through its secret reference), or obtained and
// renewed from an ACME CA. The route table takes them from here (routesFor, sync);
// loading, ordering and renewing run beside it and push a new table when they
// change. What this keeps on disk (ACME account keys, obtained certificates and
// their keys) is in state.db encrypted with the master key, like secrets.
//
// A failure (a file that cannot be read, a CA that refuses) never takes a working
// certificate away: the last good one keeps serving, and the failure is an event
// (tls.renewal_failed: a metric and the environment's webhooks follow from it)
// and the environment's last attempt in `slipway status`.

import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { SlipwayError, errorMessage } from '../../core/errors.ts';
import type { AcmeSettings, EnvironmentSpec, ExternalSecretSpec, TlsCertificateFiles, TlsSettings } from '../../core/service-config.ts';
import { formatListen } from '../../core/service-config.ts';
import { certificateInfo, type CertificateInfo } from '../../router/tls/certificate-set.ts';
import type { TlsCertificate, TlsRoutes } from '../../router/tls/tls-routes.ts';
import { issueCertificate, newAccountKey } from './acme-issuer.ts';
import { fileStamp, watchedFiles } from './file-stamp.ts';
import type { EncryptedMeta } from './encrypted-meta.ts';

export interface TlsAttempt {
  at: string;
  ok: boolean;
  /** Why it failed (never a key). */
  error?: string;
}

/** What `slipway status` shows of an environment's TLS. */
export interface TlsStatus {
  source: 'files' | 'acme';
  certificates: CertificateInfo[];
  lastAttempt: TlsAttempt | null;
  /** When the next ACME renewal is due (renew_before ahead of expiry). */
  renewAt?: string;
}

export interface TlsEvent {
  type: 'tls.certificate_issued' | 'tls.renewal_failed';
  env: string;
  level: 'info' | 'error';
  message: string;
  data: Record<string, unknown>;
}

export interface TlsKeeperDeps {
  /** The environments whose routing release has tls:, with that release's settings. */
  environments(): { env: string; spec: EnvironmentSpec }[];
  readSecret(at: { env: string; name: string }, spec: ExternalSecretSpec): Promise<string>;
  vault: EncryptedMeta;
  push(): Promise<void>;
  publish(e: TlsEvent): void;
  log: { info(o: object, m: string): void; warn(o: object, m: string): void; error(o: object, m: string): void };
  now(): number;
  /** How often files are re-read and renewals are checked; default 1 h. */
  checkEveryMs?: number;
  /** After a failed ACME attempt, the next one waits this long; default 1 h. */
  retryAfterMs?: number;
  /** How often certificate files (and keys kept in files) are looked at for a change; default 2 s. */
  watchEveryMs?: number;
}

interface EnvState {
  /** The settings the certificates were made for; others mean a load is due. */
  sourceKey: string;
  source: 'files' | 'acme';
  certificates: TlsCertificate[];
  infos: CertificateInfo[];
  challenges: Map<string, string>;
  /** TLS-ALPN-01: host name → challenge certificate, while an order is under way. */
  alpnChallenges: Map<string, TlsCertificate>;
  lastAttempt: TlsAttempt | null;
  /** ACME: no attempt before this (after a failure). */
  notBeforeMs: number;
  renewAtMs: number | null;
  loading: Promise<void> | null;
  /** Files: the files' stamp (file-stamp.ts) when they were last read, and at the last look. */
  readStamp?: string;
  seenStamp?: string;
}

const HOUR_MS = 3_600_000;
const WATCH_EVERY_MS = 2_000;

export class TlsKeeper {
  private readonly envs = new Map<string, EnvState>();
  private timer: NodeJS.Timeout | null = null;
  private watchTimer: NodeJS.Timeout | null = null;
  private readonly checkEveryMs: number;
  private readonly retryAfterMs: number;
  private readonly watchEveryMs: number;

  constructor(private readonly deps: TlsKeeperDeps) {
    this.checkEveryMs = deps.checkEveryMs ?? HOUR_MS;
    this.retryAfterMs = deps.retryAfterMs ?? HOUR_MS;
    this.watchEveryMs = deps.watchEveryMs ?? WATCH_EVERY_MS;
  }

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => void this.check(), this.checkEveryMs);
    this.timer.unref();
    this.watchTimer = setInterval(() => void this.watchFiles(), this.watchEveryMs);
    this.watchTimer.unref();
    void this.check();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    if (this.watchTimer !== null) clearInterval(this.watchTimer);
    this.timer = null;
    this.watchTimer = null;
  }

  /**
   * Certificate files replaced on disk (a certbot renewal, a person's copy) are read
   * again once they have stopped changing: the same new stamp at two looks in a row,
   * so a certificate written just before its key is not read alone and reported as
   * not matching it. A stamp that failed to load is not tried again until it changes.
   */
  async watchFiles(): Promise<void> {
    await Promise.all(this.deps.environments().map(async ({ env, spec }) => {
      const s = this.envs.get(env);
      const source = spec.tls?.source;
      if (s === undefined || s.readStamp === undefined || s.loading !== null || source?.kind !== 'files' || s.sourceKey !== sourceKeyOf(spec)) return;
      const stamp = await fileStamp(watchedFiles(source));
      const isSettled = stamp === s.seenStamp;
      s.seenStamp = stamp;
      if (stamp !== s.readStamp && isSettled) await this.refresh(env, spec);
    }));
  }

  /** The table's tls: of an environment: what it has now (maybe nothing yet); a load starts when its settings changed. */
  routesFor(env: string, spec: EnvironmentSpec): TlsRoutes | undefined {
    const tls = spec.tls;
    if (tls === undefined) return undefined;
    const state = this.envs.get(env);
    if ((state === undefined || state.sourceKey !== sourceKeyOf(spec)) && state?.loading == null) void this.refresh(env, spec);
    const current = this.envs.get(env);
    return {
      certificates: current?.certificates ?? [],
      redirectHttp: tls.redirectHttp,
      ...(tls.httpListen ? { httpListen: formatListen(tls.httpListen) } : {}),
      ...(current && current.challenges.size > 0 ? { challenges: Object.fromEntries(current.challenges) } : {}),
      ...(current && current.alpnChallenges.size > 0 ? { alpnChallenges: Object.fromEntries(current.alpnChallenges) } : {}),
    };
  }

  status(env: string): TlsStatus | null {
    const s = this.envs.get(env);
    if (s === undefined) return null;
    return { source: s.source, certificates: s.infos, lastAttempt: s.lastAttempt, ...(s.renewAtMs !== null ? { renewAt: new Date(s.renewAtMs).toISOString() } : {}) };
  }

  /**
   * At server start, before the first table is pushed: the certificates at hand
   * (files, ACME certificates stored), never an order and no push. A restarted
   * server's first table would otherwise carry no certificate and take the
   * router's away until the first load (new handshakes failing meanwhile). What
   * fails or takes over `timeoutMs` is left to the first check, which reports it.
   */
  async preload(timeoutMs = 10_000): Promise<void> {
    const loads = this.deps.environments().map(async ({ env, spec }) => {
      const tls = spec.tls!;
      const readStamp = tls.source.kind === 'files' ? await fileStamp(watchedFiles(tls.source)) : undefined;
      const certificates = tls.source.kind === 'files' ? await this.readFiles(env, tls.source) : this.storedAcmeCertificate(env, spec.hosts ?? []);
      if (certificates.length === 0 || this.envs.has(env)) return;
      const infos = certificates.map((c) => certificateInfo(c.cert));
      const renewAtMs = tls.source.kind === 'acme' ? renewAt(infos[0]!, tls.source) : null;
      // Files were just loaded; an ACME renewal was last attempted by a server before this one.
      const lastAttempt = tls.source.kind === 'files' ? { at: new Date(this.deps.now()).toISOString(), ok: true } : this.storedAttempt(env);
      this.envs.set(env, { sourceKey: sourceKeyOf(spec), source: tls.source.kind, certificates, infos, challenges: new Map(), alpnChallenges: new Map(), lastAttempt, notBeforeMs: 0, renewAtMs, loading: null, ...(readStamp !== undefined ? { readStamp, seenStamp: readStamp } : {}) });
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([Promise.allSettled(loads), timeout]);
    clearTimeout(timer);
  }

  /** Re-reads files and renews what is due, for every environment with tls:. */
  async check(): Promise<void> {
    const now = this.deps.now();
    await Promise.all(this.deps.environments().map(({ env, spec }) => {
      const s = this.envs.get(env);
      const isDue = s === undefined || s.sourceKey !== sourceKeyOf(spec) || s.source === 'files' || (s.renewAtMs !== null && now >= s.renewAtMs) || s.certificates.length === 0;
      return isDue && (s === undefined || now >= s.notBeforeMs) ? this.refresh(env, spec) : undefined;
    }));
  }

  /** Loads or orders the environment's certificates; one at a time per environment. */
  refresh(env: string, spec: EnvironmentSpec): Promise<void> {
    const tls = spec.tls!;
    let state = this.envs.get(env);
    if (state === undefined) {
      state = { sourceKey: '', source: tls.source.kind, certificates: [], infos: [], challenges: new Map(), alpnChallenges: new Map(), lastAttempt: null, notBeforeMs: 0, renewAtMs: null, loading: null };
      this.envs.set(env, state);
    }
    if (state.loading !== null) return state.loading;
    const s = state;
    s.loading = this.load(env, spec, s).finally(() => {
      s.loading = null;
    });
    return s.loading;
  }

  private async load(env: string, spec: EnvironmentSpec, s: EnvState): Promise<void> {
    const tls = spec.tls!;
    const key = sourceKeyOf(spec);
    const at = new Date(this.deps.now()).toISOString();
    // Taken before the files are read: a change while they are read is read again at the next looks.
    if (tls.source.kind === 'files') s.readStamp = s.seenStamp = await fileStamp(watchedFiles(tls.source));
    let expired: SlipwayError | null = null;
    try {
      const certificates = tls.source.kind === 'files'
        ? await this.readFiles(env, tls.source)
        : await this.acmeCertificate(env, tls.source, spec.hosts ?? [], s);
      // A file that ended is a failed load (reported, an alert), not "ok": whoever
      // renews it by hand must hear. It is still served, as nothing better is at hand.
      if (tls.source.kind === 'files') expiredFile(env, tls.source, certificates, this.deps.now(), (e) => (expired = e));
      const isChanged = key !== s.sourceKey || JSON.stringify(certificates) !== JSON.stringify(s.certificates);
      s.sourceKey = key;
      s.source = tls.source.kind;
      s.certificates = certificates;
      s.infos = certificates.map((c) => certificateInfo(c.cert));
      s.renewAtMs = tls.source.kind === 'acme' ? renewAt(s.infos[0]!, tls.source) : null;
      s.lastAttempt = tls.source.kind === 'acme' || isChanged || s.lastAttempt?.ok === false ? { at, ok: true } : s.lastAttempt;
      if (tls.source.kind === 'acme') this.storeAttempt(env, s.lastAttempt);
      if (isChanged) await this.deps.push();
      if (expired) throw expired;
    } catch (e) {
      // A failed order may leave its challenges behind: the router stops answering them.
      if (s.challenges.size > 0 || s.alpnChallenges.size > 0) {
        s.challenges.clear();
        s.alpnChallenges.clear();
        await this.deps.push().catch(() => undefined);
      }
      const error = errorMessage(e);
      const isNew = s.lastAttempt?.error !== error;
      s.lastAttempt = { at, ok: false, error };
      if (tls.source.kind === 'acme') this.storeAttempt(env, s.lastAttempt);
      s.notBeforeMs = this.deps.now() + this.retryAfterMs;
      const serving = s.certificates.length > 0 ? 'the certificate in use keeps serving' : 'no certificate to serve yet';
      // Files re-read each hour report a lasting problem once; every failed ACME attempt is reported.
      if (isNew || tls.source.kind === 'acme') {
        this.deps.publish({ type: 'tls.renewal_failed', env, level: 'error', message: `TLS certificate for ${env} could not be ${tls.source.kind === 'acme' ? 'obtained' : 'loaded'} (${serving}): ${error}`, data: { source: tls.source.kind, error } });
      }
    }
  }

  /**
   * A deploy's certificate files, read and checked before anything is recorded: a
   * key that is not the certificate's, a file that cannot be read or a certificate
   * past its end refuses the deploy with E_TLS_CERTIFICATE (before, the deploy
   * succeeded and the router served no certificate, or the old one, with the error
   * only in `slipway status`). ACME certificates are the keeper's to obtain: nothing
   * to check before the release.
   */
  async assertUsable(env: string, spec: EnvironmentSpec): Promise<void> {
    const tls = spec.tls;
    if (!tls || tls.source.kind !== 'files') return;
    const certificates = await this.readFiles(env, tls.source);
    expiredFile(env, tls.source, certificates, this.deps.now(), (e) => {
      throw new SlipwayError('E_TLS_CERTIFICATE', `${e.message}: renew it, then deploy`, e.details);
    });
  }

  private async readFiles(env: string, files: TlsCertificateFiles): Promise<TlsCertificate[]> {
    return Promise.all(files.certificates.map(async (c, i) => {
      let cert: string;
      try {
        cert = await readFile(c.certFile, 'utf8');
      } catch (e) {
        throw new SlipwayError('E_TLS_CERTIFICATE', `cannot read tls.certificates[${i}].cert_file ${c.certFile} (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { env, file: c.certFile });
      }
      const key = await this.deps.readSecret({ env, name: `tls.certificates[${i}].key` }, c.key);
      checkPair(cert, key, `tls.certificates[${i}] (${c.certFile})`, env);
      return { cert, key: key.endsWith('\n') ? key : `${key}\n` };
    }));
  }

  /** The stored certificate while it is not due; else a new one from the CA, stored before it is served. */
  private async acmeCertificate(env: string, acme: AcmeSettings, hosts: string[], s: EnvState): Promise<TlsCertificate[]> {
    const [stored] = this.storedAcmeCertificate(env, hosts);
    if (stored !== undefined && this.deps.now() < renewAt(certificateInfo(stored.cert), acme)) return [stored];
    const accountKey = await this.accountKey(acme);
    this.deps.log.info({ env, names: [...hosts].sort(), directory: acme.directoryUrl }, 'ordering a TLS certificate from the ACME CA');
    const issued = await issueCertificate({
      settings: acme,
      names: hosts,
      accountKey,
      // The CA's transient failures are retried request by request (over a minute) unless the whole order is retried sooner.
      retryRequests: this.retryAfterMs >= 5 * 60_000,
      http01: {
        add: async (token, keyAuthorization) => {
          s.challenges.set(token, keyAuthorization);
          await this.deps.push();
        },
        remove: async (token) => {
          s.challenges.delete(token);
          await this.deps.push();
        },
      },
      tlsAlpn01: {
        add: async (name, certificate) => {
          s.alpnChallenges.set(name, certificate);
          await this.deps.push();
        },
        remove: async (name) => {
          s.alpnChallenges.delete(name);
          await this.deps.push();
        },
      },
    });
    this.deps.vault.set({ env, name: 'tls-certificate' }, issued);
    const info = certificateInfo(issued.cert);
    this.deps.publish({ type: 'tls.certificate_issued', env, level: 'info', message: `TLS certificate for ${info.names.join(', ')} obtained from ${acme.directoryUrl}, valid until ${info.notAfter}`, data: { names: info.names, issuer: info.issuer, notAfter: info.notAfter } });
    return [issued];
  }

  /** ACME attempts are hours apart: the last one is kept in state.db, so a restarted server still shows it. */
  private storeAttempt(env: string, attempt: TlsAttempt | null): void {
    try {
      this.deps.vault.set({ env, name: 'tls-last-attempt' }, attempt);
    } catch (e) {
      this.deps.log.warn({ env, err: errorMessage(e) }, 'the last TLS renewal attempt could not be recorded');
    }
  }

  private storedAttempt(env: string): TlsAttempt | null {
    try {
      return this.deps.vault.get<TlsAttempt | null>({ env, name: 'tls-last-attempt' });
    } catch {
      return null;
    }
  }

  /** The certificate last obtained for the environment, if it is for these names. */
  private storedAcmeCertificate(env: string, hosts: string[]): TlsCertificate[] {
    const stored = this.deps.vault.get<TlsCertificate>({ env, name: 'tls-certificate' });
    if (stored === null) return [];
    const names = [...hosts].sort().join(',');
    return [...certificateInfo(stored.cert).names].sort().join(',') === names ? [stored] : [];
  }

  private async accountKey(acme: AcmeSettings): Promise<string> {
    const at = { env: 'slipway', name: `acme-account ${acme.directoryUrl} ${acme.email}` };
    const stored = this.deps.vault.get<{ key: string }>(at);
    if (stored !== null) return stored.key;
    const key = await newAccountKey();
    this.deps.vault.set(at, { key });
    return key;
  }
}

/** What decides the certificates: the source and, for ACME, the names. */
function sourceKeyOf(spec: EnvironmentSpec): string {
  const tls = spec.tls as TlsSettings;
  return JSON.stringify([tls.source, tls.source.kind === 'acme' ? [...(spec.hosts ?? [])].sort() : null]);
}

/** Calls `found` with the first certificate file past its end, if any. */
function expiredFile(env: string, files: TlsCertificateFiles, certificates: TlsCertificate[], now: number, found: (e: SlipwayError) => void): void {
  for (const [i, c] of certificates.entries()) {
    const info = certificateInfo(c.cert);
    if (Date.parse(info.notAfter) > now) continue;
    const file = files.certificates[i]!.certFile;
    found(new SlipwayError('E_TLS_CERTIFICATE', `tls.certificates[${i}] (${file}) expired on ${info.notAfter}`, { env, file }));
    return;
  }
}

function renewAt(info: CertificateInfo, acme: AcmeSettings): number {
  return Date.parse(info.notAfter) - acme.renewBeforeMs;
}

/** The certificate parses and the key is its own; the message names the file, never the key. */
function checkPair(cert: string, key: string, what: string, env: string): void {
  try {
    new X509Certificate(cert);
  } catch {
    throw new SlipwayError('E_TLS_CERTIFICATE', `${what} is not a PEM certificate`, { env });
  }
  try {
    createSecureContext({ cert, key });
  } catch (e) {
    const reason = /mismatch/i.test(errorMessage(e)) ? 'the key is not the certificate\'s' : 'the key is not a PEM private key';
    throw new SlipwayError('E_TLS_CERTIFICATE', `${what}: ${reason}`, { env });
  }
}
