// Judges shadow steps from the router's shadow figures (router/shadow/), as the
// analysis monitor judges analysis steps from its request counts. The examples the
// router sends are masked there by field name and shape; here every secret value of
// the new release is masked too, so none reaches events, status or the API.

import { evaluateShadow, type ShadowVerdict } from '../core/shadow/shadow-verdict.ts';
import type { ShadowSpec } from '../core/shadow/shadow-spec.ts';
import type { Rollout } from '../core/rollout.ts';
import type { MetricsSampler } from './metrics-sampler.ts';
import { shadowRunId } from './route-sync.ts';

/** Past the step's end, figures this much later than expected are not waited for. */
const LATE_FIGURES_MS = 10_000;
const MASK = '***';

export class ShadowJudge {
  /** env → the latest verdict of its latest rollout's shadow step (status and the API). */
  private readonly latestByEnv = new Map<string, { rolloutId: number; verdict: ShadowVerdict }>();

  constructor(private readonly deps: { sampler: MetricsSampler; secretsOf(r: Rollout): Promise<string[]>; now(): number }) {}

  /**
   * The verdict on a shadow step that ended at `endsAt`: null while no figures read
   * since then have come in (the router is sampled every second).
   */
  async verdict(r: Rollout, spec: ShadowSpec, endsAt: number): Promise<ShadowVerdict | null> {
    const read = this.deps.sampler.shadowOf(r.env);
    if ((read === null || read.at < endsAt) && this.deps.now() < endsAt + LATE_FIGURES_MS) return null;
    const stats = read !== null && read.stats.run === shadowRunId(r) ? read.stats : null;
    const verdict = evaluateShadow(spec, stats);
    const secrets = (await this.deps.secretsOf(r).catch(() => [])).filter((s) => s.length >= 4);
    const masked = secrets.length === 0 ? verdict : maskSecrets(verdict, secrets);
    this.latestByEnv.set(r.env, { rolloutId: r.id, verdict: masked });
    return masked;
  }

  /** The last shadow verdict of a rollout, if this server gave one. */
  latest(env: string, rolloutId: number): ShadowVerdict | null {
    const l = this.latestByEnv.get(env);
    return l !== undefined && l.rolloutId === rolloutId ? l.verdict : null;
  }

  forget(env: string): void {
    this.latestByEnv.delete(env);
  }
}

/** Every secret value in a verdict's text replaced (the pipeline's replay stage uses it too). */
export function maskSecrets(v: ShadowVerdict, secrets: readonly string[]): ShadowVerdict {
  const mask = (text: string) => secrets.reduce((t, s) => t.split(s).join(MASK), text);
  return {
    ...v,
    reason: mask(v.reason),
    fields: v.fields.map((f) => ({ ...f, endpoint: mask(f.endpoint), field: mask(f.field) })),
    examples: v.examples.map((e) => ({ endpoint: mask(e.endpoint), url: mask(e.url), field: mask(e.field), stable: mask(e.stable), candidate: mask(e.candidate) })),
  };
}
