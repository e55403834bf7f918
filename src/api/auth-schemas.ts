// Input of the token, audit and identity routes.

import { z } from 'zod';
import { ROLES } from '../core/roles.ts';
import { SERVICE_NAME_PATTERN } from '../core/env-key.ts';
import { envParam, wholeNumber } from './schemas.ts';

const userName = z.string().regex(/^[\w.@-]{1,64}$/, 'a user name: 1-64 letters, digits, _ . @ -');

/** A CI token lives at most this long: a leaked CI secret must stop working by itself. */
export const CI_TOKEN_MAX_LIFETIME_MS = 400 * 24 * 3600 * 1000;

export const tokenCreateBody = z.strictObject({
  user: userName,
  role: z.enum(ROLES),
  /** The environments the role applies in; elsewhere the token can only read. Absent: all. */
  envs: z.array(envParam.shape.env).min(1).max(50).optional(),
  /** The services the role applies in (every environment of each); stored as `<service>/*` entries. */
  services: z.array(z.string().regex(SERVICE_NAME_PATTERN, 'a service name: lowercase letters, digits and dashes')).min(1).max(50).optional(),
  /** When the token stops working, epoch milliseconds; absent: never. */
  expiresAt: z.number().int().positive().optional(),
}).superRefine((b, ctx) => {
  // A CI token starts runs of named services and expires: both are part of what it is.
  if (b.role !== 'ci') return;
  if (!b.services) ctx.addIssue({ code: 'custom', path: ['services'], message: 'a ci token names the services it may release (--services shop)' });
  if (b.envs) ctx.addIssue({ code: 'custom', path: ['envs'], message: 'a ci token is limited by services, not environments: its runs go through staging and production by the pipeline' });
  if (b.expiresAt === undefined) ctx.addIssue({ code: 'custom', path: ['expiresAt'], message: 'a ci token must expire (--expires 90d)' });
});
export type TokenCreateBody = z.input<typeof tokenCreateBody>;

export const tokenParam = z.strictObject({
  id: z.string().regex(/^[0-9a-f]{16}$/, 'a token id: 16 hex digits (`slipway token list` shows them)'),
});

export const auditQuery = z.strictObject({
  env: envParam.shape.env.optional(),
  actor: userName.optional(),
  action: z.string().max(100).optional(),
  /** Epoch milliseconds. */
  since: wholeNumber(z.number().int().min(0)).optional(),
  /** Entries after this sequence number. */
  after: wholeNumber(z.number().int().min(0)).optional(),
  limit: wholeNumber(z.number().int().min(1).max(100_000)).default(1000),
});
export type AuditQueryInput = z.input<typeof auditQuery>;
