// The rollout strategies of an environment as written in slipway.yaml. Each is a
// section whose `type` literal picks it; schema.ts lists them in one union.

import { z } from 'zod';
import { parseDurationMs } from '../core/duration.ts';
import type { AnalysisConfig, CanaryStepSpec } from '../core/service-config.ts';
import type { ShadowSpec } from '../core/shadow/shadow-spec.ts';
import { countOrPercent, durationMs, field, listenAddress, matching, positiveCountOrPercent, refusal, wholeNumber } from './fields.ts';
import { analysisSection } from './analysis.ts';
import { shadowSection } from './shadow-section.ts';
import { section } from './section.ts';

export const ROLLING_DEFAULTS = { type: 'rolling', batch: 1, max_unavailable: 0 } as const;
export const BLUE_GREEN_DEFAULTS = { auto_promote: true, scale_down_delay: '30s' } as const;

const rolling = section({
  type: z.literal('rolling'),
  batch: positiveCountOrPercent.prefault(ROLLING_DEFAULTS.batch),
  max_unavailable: countOrPercent.prefault(ROLLING_DEFAULTS.max_unavailable),
}).transform((s) => ({ type: s.type, batch: s.batch, maxUnavailable: s.max_unavailable }));

const STEP_EXPECTED = 'a step: { weight: 10 }, { pause: 30s }, { pause: {} } (wait for `slipway promote`), { analysis: {...} } or { shadow: { duration: 2m } }';

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** One canary step; each kind is a map with exactly one key. */
const canaryStep = z.unknown().transform((v, ctx): CanaryStepSpec => {
  const keys = isMap(v) ? Object.keys(v) : [];
  if (!isMap(v) || keys.length !== 1) {
    ctx.addIssue({ code: 'custom', message: refusal(STEP_EXPECTED, v) });
    return z.NEVER;
  }
  const key = keys[0]!;
  const value = v[key];
  if (key === 'weight') {
    if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 100) return { weight: value };
    ctx.addIssue({ code: 'custom', path: ['weight'], message: refusal('a whole percentage from 1 to 100', value) });
    return z.NEVER;
  }
  if (key === 'pause') {
    if (value === null || (isMap(value) && Object.keys(value).length === 0)) return { pause: { durationMs: null } };
    const ms = typeof value === 'string' && !/^\s*[\d.]+\s*$/.test(value) ? parseDurationMs(value) : null;
    if (ms !== null && ms > 0) return { pause: { durationMs: ms } };
    ctx.addIssue({ code: 'custom', path: ['pause'], message: refusal('a duration such as 30s, or {} to wait for `slipway promote`', value) });
    return z.NEVER;
  }
  if (key === 'analysis' || key === 'shadow') {
    const parsed = key === 'analysis' ? analysisSection.safeParse(value ?? {}) : shadowSection.safeParse(value);
    if (parsed.success) return key === 'analysis' ? { analysis: parsed.data as AnalysisConfig } : { shadow: parsed.data as ShadowSpec };
    for (const iss of parsed.error.issues) {
      ctx.addIssue({ code: 'custom', path: [key, ...iss.path.map((p) => (typeof p === 'symbol' ? String(p) : p))], message: iss.message, params: iss.code === 'custom' ? iss.params : undefined });
    }
    return z.NEVER;
  }
  ctx.addIssue({ code: 'custom', message: `unknown step "${key}"; expected ${STEP_EXPECTED}`, params: { at: 'key' } });
  return z.NEVER;
});

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/;

const sticky = section({
  header: matching('an HTTP header name such as x-user-id', HEADER_NAME).optional(),
  cookie: matching('a cookie name such as uid', /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/).optional(),
}).refine((s) => s.header !== undefined || s.cookie !== undefined, { error: 'name a header or a cookie (or both) whose value keeps a user on one side' });

const canary = section({
  type: z.literal('canary'),
  steps: z
    .array(canaryStep, { error: (iss) => (iss.code === 'invalid_type' ? refusal(`a list of steps, each ${STEP_EXPECTED}`, iss.input) : undefined) })
    .min(1, { error: 'give at least one step, e.g. - weight: 10' })
    .superRefine((steps, ctx) => {
      let last = 0;
      steps.forEach((s, i) => {
        // Only answers the stable release gave users are copied: none are left once the canary has them all.
        if ('shadow' in s && last >= 100) ctx.addIssue({ code: 'custom', path: [i, 'shadow'], message: 'a shadow step after weight 100 has no stable traffic to copy; put it before the canary takes all the traffic' });
        if (!('weight' in s)) return;
        if (s.weight <= last) ctx.addIssue({ code: 'custom', path: [i, 'weight'], message: `weights must grow from step to step; ${s.weight} follows ${last}` });
        last = s.weight;
      });
    }),
  canary_instances: wholeNumber(1, 64).optional(),
  sticky: sticky.optional(),
}).transform((s) => ({
  type: s.type,
  steps: s.steps,
  canaryInstances: s.canary_instances ?? null,
  sticky: s.sticky ? { ...(s.sticky.header ? { header: s.sticky.header.toLowerCase() } : {}), ...(s.sticky.cookie ? { cookie: s.sticky.cookie } : {}) } : null,
}));

/** Like durationMs but 0 is allowed ("0s": stop the old colour at once). */
export const delayMs = field('a duration such as 30s or 0s', (v) => {
  if (typeof v !== 'string' || /^\s*[\d.]+\s*$/.test(v)) return null;
  if (/^\s*0+(ms|s|m|h)?\s*$/.test(v)) return 0;
  return parseDurationMs(v);
});

const blueGreen = section({
  type: z.literal('blue-green'),
  preview_listen: listenAddress.optional(),
  auto_promote: field('true or false', (v) => (typeof v === 'boolean' ? v : null)).prefault(BLUE_GREEN_DEFAULTS.auto_promote),
  scale_down_delay: delayMs.prefault(BLUE_GREEN_DEFAULTS.scale_down_delay),
  /** Live requests copied to the new colour, answers compared, before the switch. */
  shadow: shadowSection.optional(),
}).transform((s) => ({ type: s.type, previewListen: s.preview_listen ?? null, autoPromote: s.auto_promote, scaleDownDelayMs: s.scale_down_delay, ...(s.shadow ? { shadow: s.shadow } : {}) }));

// A new strategy is one more section with a `type` literal, added to this list
// (and to Strategy in core/service-config.ts).
export const STRATEGIES = [rolling, canary, blueGreen] as const;
const STRATEGY_TYPES: string[] = STRATEGIES.map((s) => s.in.shape.type.value);

export const strategy = z.discriminatedUnion('type', STRATEGIES, {
  error: (iss) => {
    const allowed = `a strategy type: ${STRATEGY_TYPES.map((t) => `"${t}"`).join(', ')}`;
    if (iss.code === 'invalid_union') {
      const written: unknown = (iss.input as { type?: unknown } | undefined)?.type;
      return refusal(allowed, written);
    }
    return iss.code === 'invalid_type' ? refusal(`a map such as { type: ${STRATEGY_TYPES[0]} }`, iss.input) : undefined;
  },
});

export { durationMs };
