// Shadow traffic: a request the stable release answered is copied, once the user's
// answer has been sent whole, to the new release and to a second stable backend;
// the three answers are compared (response-diff.ts) and counted (shadow-counters.ts).
//
// The user's request never waits for any of this: the proxy only hands the tap the
// bytes it already has, and the copies start on the response's 'finish'. Copies are
// bounded: at most maxInFlight at once (past it one is dropped and counted), and an
// answer or request body over maxBodyBytes is not kept nor compared (counted too).
// Copies bypass the release counters analysis reads, and carry X-Slipway-Shadow: 1
// so a service can tell them apart.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Upstream } from '../upstream.ts';
import type { EnvCounters } from '../router-stats.ts';
import { diffResponses, type CapturedResponse } from './response-diff.ts';
import { ShadowRun } from './shadow-counters.ts';
import { endpointOf, fieldIgnorer, pathMatcher, splitUrl } from './shadow-match.ts';
import type { ShadowRoutes } from './shadow-routes.ts';

export type { ShadowRoutes } from './shadow-routes.ts';

/** A copy waits at most this long for each answer. */
const COPY_TIMEOUT_MS = 30_000;
const SHADOW_HEADER = 'x-slipway-shadow';

/**
 * The router's part of one shadow step for one environment; replaced whole by each
 * route table, while its run's counters (on the environment's counters) carry on.
 */
export class ShadowMirror {
  readonly run: ShadowRun;
  private readonly isPathCopied: (path: string) => boolean;
  readonly isIgnored: (field: string) => boolean;
  private readonly methods: ReadonlySet<string>;
  private candidateNext = 0;
  private stableNext = 0;
  /** Copies in flight; a count per mirror object is enough since tables rarely change mid-step. */
  inflight = 0;

  constructor(
    readonly spec: ShadowRoutes,
    run: ShadowRun,
    private readonly candidates: readonly Upstream[],
    private readonly stables: readonly Upstream[],
  ) {
    this.run = run;
    this.isPathCopied = pathMatcher(spec.paths);
    this.isIgnored = fieldIgnorer(spec.ignore);
    this.methods = new Set(spec.methods);
  }

  /** A tap for a request just routed, or null when it is not to be copied. The hot path's only shadow call. */
  tap(req: IncomingMessage, upstream: Upstream, headers: readonly string[], bodyBytes: number): ShadowTap | null {
    if (upstream.release !== this.spec.stable || !this.methods.has(req.method ?? '')) return null;
    const url = req.url ?? '/';
    if (!this.isPathCopied(splitUrl(url).path)) return null;
    if (Math.random() * 100 >= this.spec.percent) return null;
    this.run.sampled++;
    if (bodyBytes > this.spec.maxBodyBytes) {
      this.run.skipped.bodyTooLarge++;
      return null;
    }
    return new ShadowTap(this, req.method!, url, headers, upstream);
  }

  nextCandidate(): Upstream | null {
    const list = this.candidates.filter((u) => u.isInTable && !u.isClosed);
    if (list.length === 0) return null;
    return list[this.candidateNext++ % list.length]!;
  }

  /** Another stable backend than the one that answered the user, else that one again. */
  otherStable(answered: Upstream): Upstream | null {
    const list = this.stables.filter((u) => u.isInTable && !u.isClosed);
    const others = list.filter((u) => u !== answered);
    if (others.length > 0) return others[this.stableNext++ % others.length]!;
    return list.length > 0 ? list[0]! : answered.isClosed ? null : answered;
  }
}

/** What the proxy hands over of one request: the user's answer as it streams, then 'done'. */
export class ShadowTap {
  private status = 0;
  private readonly kept: Record<string, string> = {};
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  private readonly requestChunks: Buffer[] = [];
  private requestBytes = 0;
  private isTooLarge = false;

  constructor(
    private readonly mirror: ShadowMirror,
    private readonly method: string,
    private readonly url: string,
    private readonly headers: readonly string[],
    private readonly answered: Upstream,
  ) {}

  onRequestData(chunk: Buffer): void {
    this.requestBytes += chunk.length;
    if (this.requestBytes > this.mirror.spec.maxBodyBytes) this.isTooLarge = true;
    else this.requestChunks.push(chunk);
  }

  onHeaders(status: number, raw: readonly Buffer[]): void {
    this.status = status;
    keepHeaders(raw, this.mirror.spec.headers, this.kept);
  }

  onData(chunk: Buffer): void {
    if (this.isTooLarge) return;
    this.bytes += chunk.length;
    if (this.bytes > this.mirror.spec.maxBodyBytes) {
      this.isTooLarge = true;
      this.chunks.length = 0;
    } else this.chunks.push(chunk);
  }

  /** The user's answer ended well: copy once it has been written out whole. */
  onComplete(res: ServerResponse): void {
    if (res.writableFinished) setImmediate(() => this.send());
    else res.once('finish', () => this.send());
  }

  private send(): void {
    const m = this.mirror;
    const run = m.run;
    if (this.isTooLarge) {
      run.skipped.bodyTooLarge++;
      return;
    }
    if (m.inflight >= m.spec.maxInFlight) {
      run.skipped.inflight++;
      return;
    }
    const candidate = m.nextCandidate();
    const second = m.otherStable(this.answered);
    if (candidate === null || second === null) {
      run.skipped.noBackend++;
      return;
    }
    const user: CapturedResponse = { status: this.status, headers: this.kept, body: Buffer.concat(this.chunks) };
    const body = this.requestChunks.length > 0 ? Buffer.concat(this.requestChunks) : null;
    const headers = copyHeaders(this.headers);
    m.inflight++;
    Promise.allSettled([fetchCopy(candidate, this, headers, body), fetchCopy(second, this, headers, body)])
      .then(([fresh, stable]) => {
        // A stable instance that failed the copy too says nothing about the new release.
        if (stable.status === 'rejected') {
          run.skipped.failed++;
          return;
        }
        if (stable.value === 'too-large' || (fresh.status === 'fulfilled' && fresh.value === 'too-large')) {
          run.skipped.bodyTooLarge++;
          return;
        }
        const compared = m.spec.headers;
        const endpoint = endpointOf(this.method, splitUrl(this.url).path);
        const noise = diffResponses(user, stable.value, compared);
        // The user got an answer and the new release gave none (its connection cut
        // or refused, or nothing in time): as different as a 500 where there was a
        // 200, so it is counted, not dropped as a failed copy.
        const real = fresh.status === 'rejected'
          ? [{ field: '/status', a: String(user.status), b: `no answer: ${whyNoAnswer(fresh.reason)}` }]
          : diffResponses(user, fresh.value as CapturedResponse, compared);
        run.record({ endpoint, url: this.url, real: real.filter((d) => !m.isIgnored(d.field)), noise });
      })
      .finally(() => {
        m.inflight--;
      });
  }

  get copyMethod(): string {
    return this.method;
  }

  get copyUrl(): string {
    return this.url;
  }

  get maxBodyBytes(): number {
    return this.mirror.spec.maxBodyBytes;
  }

  get comparedHeaders(): readonly string[] {
    return this.mirror.spec.headers;
  }
}

/** The user's request headers for a copy: framing left to undici, and marked as a copy. */
function copyHeaders(headers: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!.toLowerCase();
    if (name === 'content-length' || name === 'transfer-encoding' || name === SHADOW_HEADER) continue;
    out.push(headers[i]!, headers[i + 1]!);
  }
  out.push(SHADOW_HEADER, '1');
  return out;
}

function keepHeaders(raw: readonly (Buffer | string)[], names: readonly string[], into: Record<string, string>): void {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString().toLowerCase();
    if (name === 'content-type' || names.includes(name)) into[name] = raw[i + 1]!.toString();
  }
}

/** Why a copy got no answer, in a few words for the step's examples. */
function whyNoAnswer(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return `nothing within ${COPY_TIMEOUT_MS} ms`;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE') return 'connection closed before an answer';
  return typeof code === 'string' ? `request failed (${code})` : 'request failed';
}

const TOO_LARGE = Object.assign(new Error('the copy\'s answer is over max_body'), { code: 'E_SHADOW_TOO_LARGE' });

/**
 * One copy to one backend, captured whole. A raw undici handler, as the proxy's own
 * exchange is: no stream object between the socket and the captured chunks.
 */
class CopyExchange implements Dispatcher.DispatchHandler {
  private status = 0;
  private readonly kept: Record<string, string> = {};
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  private abort: ((err?: Error) => void) | null = null;

  constructor(
    private readonly tap: ShadowTap,
    private readonly done: (r: CapturedResponse | 'too-large' | Error) => void,
  ) {}

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    if (statusCode < 200) return true;
    this.status = statusCode;
    keepHeaders(rawHeaders, this.tap.comparedHeaders, this.kept);
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.bytes += chunk.length;
    if (this.bytes > this.tap.maxBodyBytes) {
      this.abort?.(TOO_LARGE);
      return false;
    }
    this.chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    this.done({ status: this.status, headers: this.kept, body: Buffer.concat(this.chunks) });
  }

  onError(err: Error): void {
    this.done(err === TOO_LARGE ? 'too-large' : err);
  }
}

function fetchCopy(u: Upstream, tap: ShadowTap, headers: string[], body: Buffer | null): Promise<CapturedResponse | 'too-large'> {
  return new Promise((resolve, reject) => {
    const handler = new CopyExchange(tap, (r) => (r instanceof Error ? reject(r) : resolve(r)));
    u.pool.dispatch({ path: tap.copyUrl, method: tap.copyMethod as Dispatcher.HttpMethod, headers, body, headersTimeout: COPY_TIMEOUT_MS, bodyTimeout: COPY_TIMEOUT_MS }, handler);
  });
}

/**
 * Applies a table's `shadow` to an environment: a new mirror over the table's
 * backends (the run's counters kept when the run is the same), or none.
 */
export function applyShadow(counters: EnvCounters, spec: ShadowRoutes | undefined, byRelease: ReadonlyMap<string, readonly Upstream[]>): ShadowMirror | null {
  if (spec === undefined) {
    if (counters.shadow !== null) counters.shadow.endedAt ??= Date.now();
    return null;
  }
  const run = counters.shadow?.run === spec.run ? counters.shadow : new ShadowRun(spec.run);
  run.endedAt = null;
  counters.shadow = run;
  return new ShadowMirror(spec, run, byRelease.get(spec.candidate) ?? [], byRelease.get(spec.stable) ?? []);
}
