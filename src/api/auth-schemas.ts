// Input of the token, audit and identity routes.

import { z } from 'zod';
import { ROLES } from '../core/roles.ts';
import { envParam } from './schemas.ts';

const userName = z.string().regex(/^[\w.@-]{1,64}$/, 'a user name: 1-64 letters, digits, _ . @ -');

export const tokenCreateBody = z.strictObject({
  user: userName,
  role: z.enum(ROLES),
  /** The environments the role applies in; elsewhere the token can only read. Absent: all. */
  envs: z.array(envParam.shape.env).min(1).max(50).optional(),
  /** When the token stops working, epoch milliseconds; absent: never. */
  expiresAt: z.number().int().positive().optional(),
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
  since: z.coerce.number().int().min(0).optional(),
  /** Entries after this sequence number. */
  after: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(100_000).default(1000),
});
export type AuditQueryInput = z.input<typeof auditQuery>;
