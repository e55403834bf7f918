// Request schemas of the blob routes (blob-routes.ts): a tree's manifest, as the CLI
// sends it before any file (src/cli/file-manifest.ts builds it).

import { z } from 'zod';
import { SERVICE_NAME_PATTERN } from '../core/env-key.ts';
import type { ManifestEntry } from '../engine/blob-artefacts.ts';

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256: 64 lower-case hex digits');
// Canonical form (no '..', not absolute) is checked by the engine, with E_UNSAFE_PATH.
const entryPath = z.string().min(1).max(4096);

export const manifestEntry = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('file'), path: entryPath, mode: z.number().int().min(0).max(0o7777), size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), sha256: hex64 }),
  z.strictObject({ type: z.literal('directory'), path: entryPath }),
  z.strictObject({ type: z.literal('symlink'), path: entryPath, target: z.string().min(1).max(4096) }),
]);

/** Entries in the order the packer walks the tree (per directory, names sorted by code unit), directories included. */
const entries = z.array(manifestEntry).min(1).max(1_000_000);

const service = z.string().regex(SERVICE_NAME_PATTERN, 'a service name, as `service:` in slipway.yaml: lowercase letters, digits and dashes');

/** `service`: whose blobs to look among (each service has its own; a token limited to other services is refused). */
export const blobCheckBody = z.strictObject({ service, entries });
export type BlobCheckBody = z.input<typeof blobCheckBody>;

export const assembleBody = z.strictObject({
  /** The service the artefact is of (its slipway.yaml's `service:`), as an upload's x-slipway-service. */
  service,
  entries,
});
export type AssembleBody = z.input<typeof assembleBody>;
/** One manifest entry, for the CLI (which may not import the engine). */
export type ManifestEntryBody = z.output<typeof manifestEntry>;

// The schema and the engine's type must describe the same entries.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _sameEntries: Same<z.output<typeof manifestEntry>, ManifestEntry> = true;
void _sameEntries;
