// Request schemas of the HTTP API. The CLI builds its requests from these same
// types, so the two cannot drift apart.

import { z } from 'zod';

export const envParam = z.strictObject({
  env: z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, 'an environment name: lowercase letters, digits and dashes'),
});

export const rolloutParam = z.strictObject({
  id: z.coerce.number().int().positive(),
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

export const eventsQuery = z.strictObject({
  after: z.coerce.number().int().min(0).default(0),
  wait: z.coerce.number().int().min(0).max(30_000).default(0),
});

export const metricsQuery = z.strictObject({
  /** Epoch milliseconds; default: the last hour. */
  since: z.coerce.number().int().min(0).optional(),
});

export const logsQuery = z.strictObject({
  instance: z.string().max(100).optional(),
  lines: z.coerce.number().int().min(1).max(10_000).default(100),
  follow: z.enum(['0', '1', 'true', 'false']).optional(),
});

export const shutdownBody = z.strictObject({
  stopInstances: z.boolean().default(false),
  stopRouter: z.boolean().default(false),
});
export type ShutdownBody = z.input<typeof shutdownBody>;

export const ARTEFACT_DIGEST_HEADER = 'x-slipway-digest';
export const ARTEFACT_SERVICE_HEADER = 'x-slipway-service';
export const ACTOR_HEADER = 'x-slipway-actor';
