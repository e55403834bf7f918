// Request schemas of the pipeline API (runs, approvals, checklists). The CLI
// builds its requests from these same types.

import { z } from 'zod';
import { STAGES, type RunStatus } from '../core/pipeline/pipeline-run.ts';
import { pageQuery, wholeNumber } from './schemas.ts';

export const releaseBody = z.strictObject({
  /** The repository's top directory on the server's machine (absolute). */
  repo: z.string().min(1).max(4096).refine((v) => v.startsWith('/') && !v.includes('\0'), 'an absolute path'),
  ref: z.string().min(1).max(200).default('HEAD'),
  /** The service's directory inside the repository ('' for the top). */
  subdir: z.string().max(1000).default(''),
});
export type ReleaseBody = z.input<typeof releaseBody>;

export const runParam = z.strictObject({
  id: wholeNumber(z.number().int().positive()),
});

export const rejectBody = z.strictObject({
  reason: z.string().trim().min(1, 'say why (--reason)').max(1000),
});
export type RejectBody = z.input<typeof rejectBody>;

export const checklistParam = z.strictObject({
  /** A run number (12), or a release as env#number (production#3). */
  ref: z.string().regex(/^(?:\d+|(?:[a-z][a-z0-9-]{0,62}\/)?[a-z][a-z0-9-]{0,30}#\d+)$/, 'a run number (e.g. 12) or a release (e.g. production#3, shop/production#3)'),
});

/** Every status a run may have. */
export const RUN_STATUSES = ['running', 'waiting', 'succeeded', 'failed'] as const satisfies readonly RunStatus[];

/**
 * GET /api/pipeline/runs: `before` is a run id; `status` and `stage`, when given,
 * keep only the runs with that status, at that stage (the dashboard's "Waiting for
 * approval" asks for status=waiting&stage=approval), and `total` counts those.
 */
export const runsQuery = pageQuery(30, 'a run id: the page holds the runs started before it (the previous page\'s `next`)').extend({
  status: z.enum(RUN_STATUSES).optional(),
  stage: z.enum(STAGES).optional(),
});
export type RunsQuery = z.input<typeof runsQuery>;
