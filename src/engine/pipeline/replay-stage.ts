// The replay stage: after staging's acceptance, the production requests the router
// recorded (router/shadow/replay-recorder.ts, already anonymised) are sent to
// staging's new release and to production's stable release, straight to their
// instances, and the answers are compared as a shadow step compares them: field by
// field (router/shadow/response-diff.ts), with noise learned from a second stable
// answer (router/shadow/shadow-counters.ts). The run fails when more than
// max_diff_rate of the replayed requests answer differently.
//
// Straight to instances, not through the router: a replayed request must not be
// counted in production's figures (the analysis reads them), nor recorded again,
// nor reach a canary that production may be running; and staging's listener may be
// shared by host. The instances get the path the production instance got.

import { request } from 'undici';
import { envKey } from '../../core/env-key.ts';
import { ANONYMISED, type ReplayRecord, type ReplaySpec } from '../../core/shadow/replay-spec.ts';
import { evaluateShadow, type ShadowVerdict } from '../../core/shadow/shadow-verdict.ts';
import { diffResponses, type CapturedResponse } from '../../router/shadow/response-diff.ts';
import { ShadowRun } from '../../router/shadow/shadow-counters.ts';
import { endpointOf, fieldIgnorer, splitUrl } from '../../router/shadow/shadow-match.ts';
import { maskSecrets } from '../shadow-judge.ts';
import type { StageContext, StageOutcome } from './stage-context.ts';

/** Replayed requests in flight at once: each is three requests (stable, staging, stable again). */
const CONCURRENCY = 4;
/** Answers over this are not compared (counted), as a shadow step's max_body. */
const MAX_ANSWER_BYTES = 1024 * 1024;
const REPLAY_HEADER = 'x-slipway-replay';

export async function replayStage(ctx: StageContext): Promise<StageOutcome> {
  const source = ctx.replay;
  const spec = ctx.pipeline.replay;
  if (!spec) return { status: 'skipped', reason: 'pipeline.replay is not set' };
  if (source === null) return { status: 'skipped', reason: 'this server records no requests for replay' };
  const { store } = ctx.host;
  const prodEnv = ctx.pipeline.productionEnv;
  const stagingEnv = ctx.pipeline.stagingEnv;
  const prodKey = envKey(ctx.config.service, prodEnv);
  const stagingKey = envKey(ctx.config.service, stagingEnv);
  const prodId = store.getStableReleaseId(prodKey);
  const prod = prodId === null ? null : store.getRelease(prodId);
  if (!prod) return { status: 'skipped', reason: `${prodEnv} has no stable release to compare with (a first release)` };
  const stagingId = store.getStableReleaseId(stagingKey);
  const staging = stagingId === null ? null : store.getRelease(stagingId);
  if (!staging || staging.artefactDigest !== ctx.run.artefactDigest) {
    return { status: 'failed', reason: `${stagingEnv} no longer runs this artefact (stable: ${staging ? `#${staging.number}` : 'none'}); it was rolled back or replaced` };
  }
  const stables = source.backends(prodKey, prod);
  const candidates = source.backends(stagingKey, staging);
  if (stables === null || candidates === null) return { status: 'skipped', reason: `the server cannot reach the instances of ${stables === null ? prodEnv : stagingEnv} (its traffic is routed by a cluster's Gateway)` };
  if (stables.length === 0) return { status: 'failed', reason: `${prodEnv}#${prod.number} has no ready instance to answer the replayed requests` };
  if (candidates.length === 0) return { status: 'failed', reason: `${stagingEnv}#${staging.number} has no ready instance to answer the replayed requests` };
  const secrets = (await source.secrets([prod, staging]).catch(() => [])).filter((s) => s.length >= 4);
  const recording = prod.config.environment.record;
  const sample = recording ? await source.sample(prodKey, recording.sample) : [];
  const label = `${prodEnv}#${prod.number} (stable) against ${stagingEnv}#${staging.number}`;
  ctx.output(`replaying ${sample.length} request(s) recorded in ${prodEnv} to ${label}\n`);
  const { run, unanswered } = await replayAll(ctx, { spec, sample, stables, candidates, secrets });
  const verdict = maskSecrets(evaluateShadow(spec, run.toJSON()), secrets);
  const data = { production: prod.number, staging: staging.number, recorded: sample.length, replay: verdict };
  const missing = [describeUnanswered(`${stagingEnv}#${staging.number}`, unanswered.candidate), describeUnanswered(`${prodEnv}#${prod.number}`, unanswered.stable)]
    .filter((t) => t !== null);
  ctx.output(`${missing.map((t) => `${t}\n`).join('')}${describeVerdict(verdict)}`);
  const reason = `${sample.length} recorded request(s) of ${prodEnv} replayed: ${missing.map((t) => `${t}; `).join('')}${verdict.reason}`;
  if (verdict.decision === 'fail') return { status: 'failed', reason, data };
  if (verdict.decision === 'inconclusive') {
    const why = !recording ? `${prodEnv}#${prod.number} records no requests (no record: in its release)` : sample.length === 0 ? `no request of ${prodEnv} recorded yet` : reason;
    if (spec.inconclusive === 'fail') return { status: 'failed', reason: `inconclusive (inconclusive: fail): ${why}`, data };
    return { status: 'succeeded', reason: `inconclusive, passed as configured: ${why}`, data };
  }
  return { status: 'succeeded', reason, data };
}

/** Why requests went unanswered, by kind (`no answer within 1000 ms`: 12), per side. */
type Unanswered = Map<string, number>;

async function replayAll(ctx: StageContext, o: { spec: ReplaySpec; sample: ReplayRecord[]; stables: string[]; candidates: string[]; secrets: string[] }): Promise<{ run: ShadowRun; unanswered: { stable: Unanswered; candidate: Unanswered } }> {
  const run = new ShadowRun(`run-${ctx.run.id}`);
  run.sampled = o.sample.length;
  const unanswered = { stable: new Map<string, number>(), candidate: new Map<string, number>() };
  const count = (m: Unanswered, why: string) => m.set(why, (m.get(why) ?? 0) + 1);
  const isIgnored = fieldIgnorer(o.spec.ignore);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < o.sample.length && !ctx.signal.aborted; i = next++) {
      const r = withoutSecrets(o.sample[i]!, o.secrets);
      const first = o.stables[i % o.stables.length]!;
      // Another stable instance than the first when there is one, else the same one again.
      const second = o.stables[(i + 1) % o.stables.length]!;
      const candidate = o.candidates[i % o.candidates.length]!;
      const [stable, fresh] = await Promise.all([tryAnswer(first, r, o.spec, ctx.signal), tryAnswer(candidate, r, o.spec, ctx.signal)]);
      if (typeof stable === 'string') {
        // Production did not answer: nothing to hold staging to.
        count(unanswered.stable, stable);
        run.skipped.failed++;
        continue;
      }
      if (stable === null) {
        run.skipped.bodyTooLarge++;
        continue;
      }
      const endpoint = endpointOf(r.method, splitUrl(r.url).path);
      if (typeof fresh === 'string') {
        // Staging did not answer a request production answered: as different an
        // answer as a 500 where there was a 200, so it counts against max_diff_rate.
        count(unanswered.candidate, fresh);
        const again = await tryAnswer(second, r, o.spec, ctx.signal);
        const noise = again === null || typeof again === 'string' ? [] : diffResponses(stable, again, o.spec.compareHeaders);
        const real = isIgnored('/status') ? [] : [{ field: '/status', a: String(stable.status), b: fresh }];
        run.record({ endpoint, url: r.url, real, noise });
        continue;
      }
      const again = await tryAnswer(second, r, o.spec, ctx.signal);
      if (typeof again === 'string') {
        count(unanswered.stable, again);
        run.skipped.failed++;
        continue;
      }
      if (fresh === null || again === null) {
        run.skipped.bodyTooLarge++;
        continue;
      }
      const real = diffResponses(stable, fresh, o.spec.compareHeaders).filter((d) => !isIgnored(d.field));
      const noise = diffResponses(stable, again, o.spec.compareHeaders);
      run.record({ endpoint, url: r.url, real, noise });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { run, unanswered };
}

/** An answer, null when over MAX_ANSWER_BYTES, or why there was none (a few words a person can act on). */
async function tryAnswer(base: string, r: ReplayRecord, spec: ReplaySpec, signal: AbortSignal): Promise<CapturedResponse | null | string> {
  try {
    return await fetchAnswer(base, r, spec, signal);
  } catch (e) {
    return whyUnanswered(e, spec.timeoutMs);
  }
}

function whyUnanswered(e: unknown, timeoutMs: number): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return `no answer within timeout ${timeoutMs} ms`;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE') return 'connection closed before an answer';
  if (code === 'UND_ERR_ABORTED' || (e as Error | null)?.name === 'AbortError') return 'the run was cancelled';
  return typeof code === 'string' ? `request failed (${code})` : 'request failed';
}

/** `staging#9 did not answer 36 of the replayed requests (no answer within timeout 1000 ms: 36)`, or null. */
function describeUnanswered(who: string, m: Unanswered): string | null {
  if (m.size === 0) return null;
  const total = [...m.values()].reduce((a, b) => a + b, 0);
  const kinds = [...m].sort((a, b) => b[1] - a[1]).map(([why, n]) => `${why}: ${n}`).join(', ');
  return `${who} did not answer ${total} of the replayed requests (${kinds})`;
}

/** A secret value of either release found in a recorded request (the router cannot know them) is replaced before it is sent. */
function withoutSecrets(r: ReplayRecord, secrets: readonly string[]): ReplayRecord {
  if (secrets.length === 0) return r;
  const mask = (t: string) => secrets.reduce((s, secret) => s.split(secret).join(ANONYMISED), t);
  const body = r.body === undefined ? undefined : Buffer.from(r.body, 'base64').toString('utf8');
  return {
    ...r, url: mask(r.url), headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, mask(v)])),
    ...(body !== undefined ? { body: Buffer.from(mask(body)).toString('base64') } : {}),
  };
}

/** One answer, captured whole; null when it is larger than MAX_ANSWER_BYTES. */
async function fetchAnswer(base: string, r: ReplayRecord, spec: ReplaySpec, signal: AbortSignal): Promise<CapturedResponse | null> {
  const res = await request(`${base}${r.url}`, {
    method: r.method as 'GET',
    headers: { ...r.headers, [REPLAY_HEADER]: '1' },
    body: r.body === undefined ? null : Buffer.from(r.body, 'base64'),
    headersTimeout: spec.timeoutMs, bodyTimeout: spec.timeoutMs, signal,
  });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_ANSWER_BYTES) {
      res.body.destroy();
      return null;
    }
    chunks.push(chunk);
  }
  const headers: Record<string, string> = {};
  for (const name of ['content-type', ...spec.compareHeaders]) {
    const v = res.headers[name];
    if (v !== undefined) headers[name] = Array.isArray(v) ? v.join(', ') : v;
  }
  return { status: res.statusCode, headers, body: Buffer.concat(chunks) };
}

function describeVerdict(v: ShadowVerdict): string {
  const lines = [`${v.decision}: ${v.reason}`];
  const skipped = v.skipped.failed + v.skipped.bodyTooLarge;
  if (skipped > 0) lines.push(`not compared: ${v.skipped.failed} failed, ${v.skipped.bodyTooLarge} over 1 MiB`);
  for (const f of v.fields) lines.push(`  ${f.endpoint} ${f.field}: ${f.differing} request(s)`);
  for (const e of v.examples) lines.push(`  e.g. ${e.url} ${e.field}: production ${e.stable} → staging ${e.candidate}`);
  return `${lines.join('\n')}\n`;
}
