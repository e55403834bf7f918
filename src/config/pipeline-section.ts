// The release pipeline's parts of slipway.yaml: `build:`, `test:` and `pipeline:`
// at the top, and the gates of each environment (provision, acceptance, approval,
// freeze, backup, restore). Commands here are shell command lines run with `sh -c`
// exactly as written: config values and secrets reach them as environment
// variables, never pasted into the text.

import { Cron } from 'croner';
import { z } from 'zod';
import type { ApprovalPolicy, EnvironmentGates, FreezeWindow, PipelineSpec } from '../core/service-config.ts';
import { ENVIRONMENT_NAME, durationMs, field, longDurationMs, matching, refusal, wholeNumber } from './fields.ts';
import { replaySection } from './replay-section.ts';
import { section } from './section.ts';

export const PIPELINE_DEFAULTS = {
  staging: 'staging',
  production: 'production',
  main_branch: 'main',
  health_window: '10s',
  rollback_drill: true,
  keep_artefacts: 10,
  command_timeout: '10m',
} as const;

const shellLine = field('a shell command line (run with sh -c), e.g. npm test', (v) =>
  typeof v === 'string' && v.trim() !== '' && !v.includes('\0') ? v.trim() : null,
);

/** `build: { command: ... }` and the like: one command in a map, so more keys can come later. */
export const commandSection = section({ command: shellLine }).transform((s) => s.command);

const bool = field('true or false', (v) => (typeof v === 'boolean' ? v : null));

const ROLE = /^[a-z][a-z0-9_-]{0,39}$/;

const approval = section({
  count: wholeNumber(0, 10).prefault(0),
  roles: z.array(matching('a role name (lowercase letters, digits, - and _)', ROLE)).prefault([]),
  distinct_from_starter: bool.prefault(true),
}).transform((a): ApprovalPolicy => ({ count: a.count, roles: a.roles, distinctFromStarter: a.distinct_from_starter }));

const freezeAction = field('wait or refuse', (v) => (v === 'wait' || v === 'refuse' ? v : null));
const reasonText = field('a short text', (v) => (typeof v === 'string' && v.length <= 200 ? v : null));

function instant(v: unknown): number | null {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.getTime();
  if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}/.test(v)) return null;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? null : ms;
}

const dateTime = field('a date or date-time, e.g. 2026-12-24 or 2026-12-24T18:00:00Z (UTC unless it says otherwise)', instant);

const cronFreeze = section({
  cron: field('a cron expression of 5 fields (minute hour day month weekday), e.g. "0 17 * * 5"', (v) => {
    if (typeof v !== 'string' || v.trim().split(/\s+/).length !== 5) return null;
    try {
      new Cron(v, { paused: true });
      return v.trim();
    } catch {
      return null;
    }
  }),
  duration: longDurationMs,
  timezone: field('an IANA time zone such as UTC or Europe/Paris', (v) => {
    if (typeof v !== 'string') return null;
    try {
      new Intl.DateTimeFormat('en', { timeZone: v });
      return v;
    } catch {
      return null;
    }
  }).prefault('UTC'),
  action: freezeAction.prefault('wait'),
  reason: reasonText.optional(),
}).transform((f): FreezeWindow => ({ cron: f.cron, durationMs: f.duration, timezone: f.timezone, action: f.action, reason: f.reason ?? null }));

const dateFreeze = section({
  from: dateTime,
  until: dateTime,
  action: freezeAction.prefault('wait'),
  reason: reasonText.optional(),
})
  .transform((f): FreezeWindow => ({ fromMs: f.from, untilMs: f.until, action: f.action, reason: f.reason ?? null }))
  .refine((f) => 'untilMs' in f && f.untilMs > f.fromMs, { error: '`until` must be after `from`', path: ['until'] });

const freezeWindow = z.unknown().transform((v, ctx): FreezeWindow => {
  const isMap = typeof v === 'object' && v !== null && !Array.isArray(v);
  const schema = isMap && 'cron' in v ? cronFreeze : isMap && ('from' in v || 'until' in v) ? dateFreeze : null;
  if (!schema) {
    ctx.addIssue({ code: 'custom', message: refusal('a freeze window: { cron: "0 17 * * 5", duration: 64h } or { from: 2026-12-24, until: 2026-12-27 }', v) });
    return z.NEVER;
  }
  const parsed = schema.safeParse(v);
  if (parsed.success) return parsed.data;
  for (const iss of parsed.error.issues) {
    ctx.addIssue({ code: 'custom', path: iss.path.map((p) => (typeof p === 'symbol' ? String(p) : p)), message: iss.message, params: iss.code === 'custom' ? iss.params : undefined });
  }
  return z.NEVER;
});

/** The gate keys of one environment, as they sit beside `instances:` and `strategy:`. */
export const environmentGateShape = {
  provision: commandSection.optional(),
  acceptance: commandSection.optional(),
  approval: approval.optional(),
  freeze: z.array(freezeWindow).optional(),
  backup: commandSection.optional(),
  restore: commandSection.optional(),
};

export interface WrittenGates {
  provision?: string | undefined;
  acceptance?: string | undefined;
  approval?: ApprovalPolicy | undefined;
  freeze?: FreezeWindow[] | undefined;
  backup?: string | undefined;
  restore?: string | undefined;
}

export function hasGates(g: WrittenGates): boolean {
  return Object.values(g).some((v) => v !== undefined);
}

export function gatesOf(g: WrittenGates): EnvironmentGates {
  return {
    provision: g.provision ?? null,
    acceptance: g.acceptance ?? null,
    approval: g.approval ?? { count: 0, roles: [], distinctFromStarter: true },
    freeze: g.freeze ?? [],
    backup: g.backup ?? null,
    restore: g.restore ?? null,
  };
}

export const pipelineSection = section({
  staging: matching('an environment name', ENVIRONMENT_NAME).prefault(PIPELINE_DEFAULTS.staging),
  production: matching('an environment name', ENVIRONMENT_NAME).prefault(PIPELINE_DEFAULTS.production),
  main_branch: field('a git branch name', (v) => (typeof v === 'string' && /^[\w./-]{1,200}$/.test(v) && !v.includes('..') ? v : null)).prefault(PIPELINE_DEFAULTS.main_branch),
  health_window: durationMs.prefault(PIPELINE_DEFAULTS.health_window),
  rollback_drill: bool.prefault(PIPELINE_DEFAULTS.rollback_drill),
  keep_artefacts: wholeNumber(2, 1000).prefault(PIPELINE_DEFAULTS.keep_artefacts),
  release_notes: field('a path inside the repository, e.g. RELEASE_NOTES.md', (v) =>
    typeof v === 'string' && v !== '' && !v.startsWith('/') && !v.split('/').includes('..') ? v : null,
  ).optional(),
  command_timeout: durationMs.prefault(PIPELINE_DEFAULTS.command_timeout),
  /** Production's requests recorded by the router and replayed against staging (docs/replay.md). */
  replay: replaySection.optional(),
});

export type WrittenPipeline = z.output<typeof pipelineSection>;

/** The PipelineSpec of a file, or undefined when the file has no pipeline part at all. */
export function assemblePipeline(o: {
  build: string | undefined;
  test: string | undefined;
  pipeline: WrittenPipeline | undefined;
  gates: Record<string, WrittenGates>;
}): PipelineSpec | undefined {
  const anyGates = Object.values(o.gates).some(hasGates);
  if (o.build === undefined && o.test === undefined && o.pipeline === undefined && !anyGates) return undefined;
  const p = o.pipeline ?? pipelineSection.parse({});
  return {
    build: o.build ?? null,
    test: o.test ?? null,
    stagingEnv: p.staging,
    productionEnv: p.production,
    mainBranch: p.main_branch,
    healthWindowMs: p.health_window,
    rollbackDrill: p.rollback_drill,
    keepArtefacts: p.keep_artefacts,
    releaseNotesFile: p.release_notes ?? null,
    commandTimeoutMs: p.command_timeout,
    ...(p.replay ? { replay: p.replay } : {}),
    environments: Object.fromEntries(Object.entries(o.gates).map(([name, g]) => [name, gatesOf(g)])),
  };
}
