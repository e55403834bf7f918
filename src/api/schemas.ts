// Request schemas of the HTTP API. The CLI builds its requests from these same
// types, so the two cannot drift apart.

import { z } from 'zod';
import { ENV_REFERENCE_PATTERN } from '../core/env-key.ts';

/**
 * A whole number in a path or a query, where every value arrives as text: digits
 * only. z.coerce read "0x10" as 16, "1e3" as 1000, " 5" as 5 and "" as 0. `n`
 * bounds it (and shows the bounds in /api/openapi.json); a number, as the CLI
 * builds a query, is taken as it is.
 */
export function wholeNumber(n: z.ZodNumber) {
  return z.union([n, z.string().regex(/^\d{1,16}$/).transform(Number).pipe(n)], { error: 'expected a whole number, in digits' });
}

export const envParam = z.strictObject({
  env: z.string().regex(ENV_REFERENCE_PATTERN, 'an environment: its name (production) or its service and name (shop/production), lowercase letters, digits and dashes'),
});

export const rolloutParam = z.strictObject({
  id: wholeNumber(z.number().int().positive()),
});

export const deployBody = z.strictObject({
  artefact: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'an artefact digest sha256:<64 hex digits>'),
  config: z.strictObject({
    text: z.string().min(1).max(1_000_000),
    file: z.string().max(500).default('slipway.yaml'),
  }),
  force: z.boolean().default(false),
});
export type DeployBody = z.input<typeof deployBody>;

export const rollbackBody = z.strictObject({
  to: z.number().int().positive().optional(),
});
export type RollbackBody = z.input<typeof rollbackBody>;

export const promoteBody = z.strictObject({
  /** Skip every remaining step: full size, all traffic, the old release stopped. */
  full: z.boolean().default(false),
});
export type PromoteBody = z.input<typeof promoteBody>;

export const emptyBody = z.strictObject({});

/** The most items one page of a list gives. */
export const MAX_PAGE_LIMIT = 500;

/**
 * A page of a list kept newest first (releases, pipeline runs): `limit` items, older
 * than `before` (the `next` of the page before) when given. `defaultLimit`: the
 * route's page when none is asked for.
 */
export function pageQuery(defaultLimit: number, before: string) {
  return z.strictObject({
    limit: wholeNumber(z.number().int().min(1).max(MAX_PAGE_LIMIT)).default(defaultLimit),
    before: wholeNumber(z.number().int().positive().describe(before)).optional(),
  });
}

/** GET /api/environments/:env/releases: `before` is a release number of the environment. */
export const releasesQuery = pageQuery(50, 'a release number of the environment: the page holds the releases before it (the previous page\'s `next`)');
export type ReleasesQuery = z.input<typeof releasesQuery>;

export const eventsQuery = z.strictObject({
  after: wholeNumber(z.number().int().min(0)).default(0),
  wait: wholeNumber(z.number().int().min(0).max(30_000)).default(0),
});

export const metricsQuery = z.strictObject({
  /** Epoch milliseconds; default: the last hour. */
  since: wholeNumber(z.number().int().min(0)).optional(),
});

export const LOG_LEVEL_NAMES = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

export const logsQuery = z.strictObject({
  instance: z.string().max(100).optional(),
  /** A release number of the environment. */
  release: wholeNumber(z.number().int().positive()).optional(),
  /** A duration back from now (10m, 2h), an ISO time, or epoch milliseconds. */
  since: z.string().min(1).max(40).optional(),
  /** A plain substring of the message or the instance's own fields. */
  grep: z.string().min(1).max(500).optional(),
  /** This level and above. */
  level: z.enum(LOG_LEVEL_NAMES).optional(),
  lines: wholeNumber(z.number().int().min(1).max(10_000)).default(100),
  follow: z.enum(['0', '1', 'true', 'false']).optional(),
});
export type LogsQuery = z.input<typeof logsQuery>;

export const sseQuery = z.strictObject({
  /** Only this environment's events. */
  env: envParam.shape.env.optional(),
  /** Comma-separated event types or prefixes (rollout.*). */
  types: z.string().max(1000).optional(),
  /** Start after this event id (as Last-Event-ID does); 0 replays every kept event. */
  after: wholeNumber(z.number().int().min(0)).optional(),
});

export const shutdownBody = z.strictObject({
  stopInstances: z.boolean().default(false),
  stopRouter: z.boolean().default(false),
});
export type ShutdownBody = z.input<typeof shutdownBody>;

export const ARTEFACT_DIGEST_HEADER = 'x-slipway-digest';
export const ARTEFACT_SERVICE_HEADER = 'x-slipway-service';
export const ACTOR_HEADER = 'x-slipway-actor';

// --- config and secrets

const configKey = z.string().max(128).regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name: letters, digits and _, not starting with a digit')
  // Names become keys of plain objects: `__proto__` would set the prototype instead,
  // and a secret of that name was answered 201 while nothing was stored.
  .refine((k) => k !== '__proto__', 'an environment variable name other than __proto__');
/** false: record the new config version only; it reaches the instances with the next deploy or config change. */
const rollout = z.boolean().default(true);
/** The client found the environment in its slipway.yaml: the server may not have seen it yet. */
const allowNew = z.boolean().default(false);
const noNul = (v: string) => !v.includes('\0');

export const configSetBody = z.strictObject({
  values: z.record(configKey, z.string().max(65_536).refine(noNul, 'a value may not hold a NUL character'))
    .refine((v) => Object.keys(v).length > 0, 'give at least one KEY=VALUE')
    .refine((v) => Object.keys(v).length <= 100, 'at most 100 keys at once'),
  rollout,
  allowNew,
});
export type ConfigSetBody = z.input<typeof configSetBody>;

export const configUnsetBody = z.strictObject({
  keys: z.array(configKey).min(1).max(100),
  rollout,
  allowNew,
});
export type ConfigUnsetBody = z.input<typeof configUnsetBody>;

export const secretParam = z.strictObject({
  env: envParam.shape.env,
  name: configKey,
});

// The value's own checks (length, NUL) are made by security/ with messages that never quote it.
export const secretSetBody = z.strictObject({
  value: z.string().max(65_536),
  rollout,
  allowNew,
});
export type SecretSetBody = z.input<typeof secretSetBody>;

export const secretRmQuery = z.strictObject({
  rollout: z.enum(['0', '1', 'true', 'false']).default('1'),
});

export const configDiffQuery = z.strictObject({
  with: envParam.shape.env,
});

/** `slipway policy set`: the policy file's text; it is read on the server, so its errors name lines. Empty: back to the defaults. */
export const policySetBody = z.strictObject({
  text: z.string().max(1_000_000),
  file: z.string().max(500).default('policy.yaml'),
});
export type PolicySetBody = z.input<typeof policySetBody>;
