// The verdict of a shadow step from the router's figures: the share of compared
// requests whose new answer differs from the stable one in a field that is neither
// noise nor ignored. Pure; the engine calls it when the step's time is up.

import type { ShadowExample, ShadowSpec, ShadowStatsJson } from './shadow-spec.ts';

export interface ShadowFieldFinding {
  endpoint: string;
  field: string;
  differing: number;
}

export interface ShadowVerdict {
  decision: 'pass' | 'fail' | 'inconclusive';
  reason: string;
  compared: number;
  differing: number;
  /** differing / compared; 0 with nothing compared. */
  diffRate: number;
  maxDiffRate: number;
  /** The fields that differ for real, most often first (at most MAX_FINDINGS). */
  fields: ShadowFieldFinding[];
  examples: ShadowExample[];
  skipped: ShadowStatsJson['skipped'];
}

const MAX_FINDINGS = 10;
const MAX_EXAMPLES = 5;

const pct = (x: number) => `${Math.round(x * 10_000) / 100}%`;

/** Also the replay stage's verdict (its spec has the same two thresholds). */
export function evaluateShadow(spec: Pick<ShadowSpec, 'maxDiffRate' | 'minRequests'> & { maxInFlight?: number }, stats: ShadowStatsJson | null): ShadowVerdict {
  const compared = stats?.compared ?? 0;
  const differing = stats?.differing ?? 0;
  const diffRate = compared === 0 ? 0 : differing / compared;
  const fields: ShadowFieldFinding[] = [];
  const examples: ShadowExample[] = [];
  for (const [endpoint, e] of Object.entries(stats?.endpoints ?? {})) {
    for (const [field, f] of Object.entries(e.fields)) {
      if (f.noise === 0 && f.differing > 0 && e.differing > 0) fields.push({ endpoint, field, differing: f.differing });
    }
    examples.push(...e.examples);
  }
  fields.sort((a, b) => b.differing - a.differing || a.endpoint.localeCompare(b.endpoint) || a.field.localeCompare(b.field));
  const skipped = stats?.skipped ?? { inflight: 0, bodyTooLarge: 0, failed: 0, noBackend: 0 };
  const base = { compared, differing, diffRate, maxDiffRate: spec.maxDiffRate, fields: fields.slice(0, MAX_FINDINGS), examples: examples.slice(0, MAX_EXAMPLES), skipped };
  const named = fields.slice(0, 3).map((f) => `${f.endpoint} ${f.field} (${f.differing})`).join(', ');
  if (compared < spec.minRequests) {
    return { ...base, decision: 'inconclusive', reason: `only ${compared} request(s) compared, fewer than min_requests ${spec.minRequests}${notCompared(skipped, spec.maxInFlight)}` };
  }
  if (diffRate > spec.maxDiffRate) {
    return { ...base, decision: 'fail', reason: `${differing} of ${compared} compared requests (${pct(diffRate)}) answered differently from the stable release, above max_diff_rate ${pct(spec.maxDiffRate)}: ${named}` };
  }
  return { ...base, decision: 'pass', reason: `${differing} of ${compared} compared requests (${pct(diffRate)}) answered differently, within max_diff_rate ${pct(spec.maxDiffRate)}${named ? `: ${named}` : ''}` };
}

/**
 * Why copies went uncompared, for an inconclusive step: a new release that hangs
 * holds every copy in flight until they time out, and the copies after them are
 * dropped; said so, it is not read as "too little traffic".
 */
function notCompared(skipped: ShadowStatsJson['skipped'], maxInFlight: number | undefined): string {
  const parts = [
    skipped.inflight > 0 ? `${skipped.inflight} dropped while ${maxInFlight ?? 'the'} copies (max_in_flight) still waited for an answer` : '',
    skipped.failed > 0 ? `${skipped.failed} failed` : '',
    skipped.bodyTooLarge > 0 ? `${skipped.bodyTooLarge} over max_body` : '',
    skipped.noBackend > 0 ? `${skipped.noBackend} with no backend to send to` : '',
  ].filter(Boolean);
  return parts.length === 0 ? '' : `; not compared: ${parts.join(', ')}`;
}
