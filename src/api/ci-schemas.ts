// Request schemas of a release from a hosted CI (slipway ci-release). The CLI builds
// its requests from these same types.

import { z } from 'zod';
import { SERVICE_NAME_PATTERN } from '../core/env-key.ts';
import { CI_PROVIDERS, TEST_REPORT_FORMATS } from '../core/pipeline/ci-origin.ts';

const httpUrl = z.string().max(2000).refine((v) => {
  try {
    const u = new URL(v);
    return u.protocol === 'https:' || u.protocol === 'http:';
  } catch {
    return false;
  }
}, 'an http(s) URL');

export const ciReleaseBody = z.strictObject({
  /** 'sha256:<hex>' of the artefact uploaded before (POST /api/pipeline/ci/artefacts). */
  artefact: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'sha256:<64 hex digits>'),
  ci: z.strictObject({
    provider: z.enum(CI_PROVIDERS),
    /** The commit the CI built: a full hex sha (40 for SHA-1, 64 for SHA-256 repositories). */
    commit: z.string().regex(/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/, 'a full commit sha (40 or 64 hex digits)'),
    branch: z.string().min(1).max(255).regex(/^[^\s\0]+$/, 'a branch name').nullable().default(null),
    jobUrl: httpUrl.nullable().default(null),
    repository: httpUrl.nullable().default(null),
  }),
  /** The release's version (v1.2.3 or 1.2.3); absent: 0.0.0+<short sha>. */
  version: z.string().regex(/^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/, 'a semantic version such as 1.2.3 or v1.2.3').optional(),
  /** Release notes (the CI's git log, say). */
  notes: z.string().max(64 * 1024).optional(),
  /** Ed25519 signature (base64) of ciSignedStatement by a CI key the admin registered for the service. */
  signature: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, 'an Ed25519 signature, base64').optional(),
  testReport: z.strictObject({
    /** Absent: JUnit when the text starts with "<", else TAP. */
    format: z.enum(TEST_REPORT_FORMATS).optional(),
    text: z.string().min(1).max(1024 * 1024),
  }).optional(),
});
export type CiReleaseBody = z.input<typeof ciReleaseBody>;

export const ciKeyParam = z.strictObject({
  name: z.string().regex(/^[\w.@-]{1,64}$/, 'a key name: 1-64 letters, digits, _ . @ -'),
});

export const ciKeyBody = z.strictObject({
  services: z.array(z.string().regex(SERVICE_NAME_PATTERN, 'a service name')).min(1).max(50),
  /** Ed25519 public key, PEM (SPKI). */
  publicKey: z.string().min(1).max(4096),
});
export type CiKeyBody = z.input<typeof ciKeyBody>;
/** A registered CI key as the API answers it (public key only). */
export type { CiKeyRecord as CiKeyJson } from '../engine/pipeline/ci-keys.ts';
