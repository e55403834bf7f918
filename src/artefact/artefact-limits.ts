// How big an artefact may be, in every sense a hostile one can be big: bytes
// uploaded, bytes once gunzipped, bytes of its files, and entries. Each is checked
// while the bytes flow, so an artefact over a limit is refused as soon as it
// passes it, never after it has been read (or inflated) whole.

import { z } from 'zod';
import { SlipwayError } from '../core/errors.ts';
import { DEFAULT_MAX_ARTEFACT_BYTES } from './pack-directory.ts';

export interface ArtefactLimits {
  /** The .tar.gz as it is uploaded, counted as it streams (Content-Length is only a hint). */
  maxUploadBytes: number;
  /** The tar stream once gunzipped: files, headers, padding and anything after the end. */
  maxDecompressedBytes: number;
  /** Sum of the regular files' sizes: what unpacking writes. The packer refuses the same. */
  maxFileBytes: number;
  /** Entries of every type (files, directories, links). */
  maxEntries: number;
}

const MiB = 1024 * 1024;

/**
 * maxDecompressedBytes: 1 GiB. An honest artefact's tar stream is its files
 * (at most maxFileBytes, 512 MiB) plus at most ~3 KiB of header, long-name record
 * and padding per entry (100,000 entries: under 300 MiB), so it never reaches
 * 1 GiB; a gzip bomb is cut off after 1 GiB, which zlib inflates in a few seconds
 * off the event loop. maxEntries: 100,000, far above any service directory (a
 * large node_modules has ~30,000) and small enough that the tree check and the
 * entry list stay in the tens of MiB.
 */
export const DEFAULT_ARTEFACT_LIMITS: ArtefactLimits = {
  maxUploadBytes: 1024 * MiB,
  maxDecompressedBytes: 1024 * MiB,
  maxFileBytes: DEFAULT_MAX_ARTEFACT_BYTES,
  maxEntries: 100_000,
};

/** The server's environment variables that override a limit. */
export const ARTEFACT_LIMIT_VARIABLES = {
  maxUploadBytes: 'SLIPWAY_MAX_UPLOAD_BYTES',
  maxDecompressedBytes: 'SLIPWAY_MAX_DECOMPRESSED_BYTES',
  maxEntries: 'SLIPWAY_MAX_ARTEFACT_ENTRIES',
} as const;

const positiveWhole = z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER);

/** The limits, with any override from the environment; a malformed value is an error that names the variable. */
export function artefactLimitsFrom(env: NodeJS.ProcessEnv): ArtefactLimits {
  const limits = { ...DEFAULT_ARTEFACT_LIMITS };
  for (const [key, name] of Object.entries(ARTEFACT_LIMIT_VARIABLES) as [keyof typeof ARTEFACT_LIMIT_VARIABLES, string][]) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const parsed = positiveWhole.safeParse(raw);
    if (!parsed.success) {
      throw new SlipwayError('E_CONFIG_INVALID', `${name}: expected a whole number of ${key === 'maxEntries' ? 'entries' : 'bytes'} above 0, got "${raw.slice(0, 40)}"`, { variable: name });
    }
    limits[key] = parsed.data;
  }
  return limits;
}

/** The refusal for any limit: names the limit, its value and where to raise it. */
export function overLimit(o: { what: string; limit: keyof ArtefactLimits; value: number; details?: Record<string, unknown> }): SlipwayError {
  const variable = (ARTEFACT_LIMIT_VARIABLES as Record<string, string>)[o.limit];
  const unit = o.limit === 'maxEntries' ? `${o.value} entries` : `${o.value} bytes (${formatMiB(o.value)})`;
  return new SlipwayError(
    'E_ARTEFACT_INVALID',
    `${o.what}, over the ${o.limit} limit of ${unit}; nothing was kept${variable ? ` (the server's ${variable} sets the limit)` : ''}`,
    { limit: o.limit, [o.limit]: o.value, ...o.details },
  );
}

function formatMiB(bytes: number): string {
  return bytes >= MiB ? `${Math.round((bytes / MiB) * 10) / 10} MiB` : `${bytes} B`;
}
