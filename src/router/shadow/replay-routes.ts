// The `record` key of an environment's routes: present when slipway.yaml's
// `pipeline.replay` names this environment as production (engine/route-sync.ts).
// The router's workers then record a sample of its requests, anonymised
// (replay-recorder.ts), and its keeper keeps them on disk, bounded (replay-store.ts).

import { z } from 'zod';

const METHOD = /^[A-Z]{1,16}$/;
const PATTERN = /^\/\S*$/;

export const replayRecordRoutesSchema = z.strictObject({
  percent: z.number().gt(0, 'percent must be above 0').max(100, 'percent must be at most 100'),
  methods: z.array(z.string().regex(METHOD, 'must be an upper-case HTTP method')).min(1),
  paths: z.array(z.string().regex(PATTERN, 'must start with /')).min(1),
  headers: z.array(z.string().regex(/^[a-z0-9!#$%&'*+.^_`|~-]{1,100}$/, 'must be a lowercase HTTP header name')),
  bodies: z.boolean(),
  maxBodyBytes: z.number().int().min(1).max(16 * 1024 * 1024),
  /** Regular expressions; each must compile, or the table is refused (a worker never meets a broken one). */
  anonymise: z.array(z.string().min(1).max(300).refine(isRegExp, 'must be a valid regular expression')).max(32),
  sample: z.number().int().min(2).max(100_000),
  maxBytes: z.number().int().min(1024).max(256 * 1024 * 1024),
});

export type ReplayRecordRoutes = z.infer<typeof replayRecordRoutesSchema>;

function isRegExp(p: string): boolean {
  try {
    new RegExp(p, 'g');
    return true;
  } catch {
    return false;
  }
}
