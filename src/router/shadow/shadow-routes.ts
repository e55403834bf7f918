// The `shadow` key of an environment's routes: while a rollout is at a shadow step
// the server puts it in the table (engine/route-sync.ts); the router then copies
// matching requests the stable release answered (shadow-mirror.ts).

import { z } from 'zod';

const METHOD = /^[A-Z]{1,16}$/;
const PATTERN = /^\/\S*$/;

export const shadowRoutesSchema = z.strictObject({
  /** `<rollout id>:<step index>`: figures are counted per run and reported under it. */
  run: z.string().min(1).max(64),
  /** The release (as labelled in `weights`) whose answers users get. */
  stable: z.string().min(1),
  /** The release the copies go to. */
  candidate: z.string().min(1),
  percent: z.number().gt(0, 'percent must be above 0').max(100, 'percent must be at most 100'),
  methods: z.array(z.string().regex(METHOD, 'must be an upper-case HTTP method')).min(1),
  paths: z.array(z.string().regex(PATTERN, 'must start with /')).min(1),
  ignore: z.array(z.string().regex(PATTERN, 'must start with /')),
  headers: z.array(z.string().regex(/^[a-z0-9!#$%&'*+.^_`|~-]{1,100}$/, 'must be a lowercase HTTP header name')),
  maxInFlight: z.number().int().min(1).max(10_000),
  maxBodyBytes: z.number().int().min(1).max(16 * 1024 * 1024),
});

export type ShadowRoutes = z.infer<typeof shadowRoutesSchema>;
