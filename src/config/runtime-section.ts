// The container side of slipway.yaml: which runtime an environment uses, the limits
// of its instances, and the service's image. The process runtime needs none of it.

import { z } from 'zod';
import { RUNTIME_NAMES, type ImageSpec, type RuntimeName } from '../core/service-config.ts';
import { field } from './fields.ts';
import { section } from './section.ts';

export const runtimeName = field<RuntimeName>(
  `one of ${RUNTIME_NAMES.join(', ')}`,
  (v) => (typeof v === 'string' && (RUNTIME_NAMES as readonly string[]).includes(v) ? (v as RuntimeName) : null),
);

const MEMORY_UNITS: Record<string, number> = {
  '': 1, b: 1, k: 1024, kb: 1024, ki: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mi: 1024 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1024 ** 3, gi: 1024 ** 3, gib: 1024 ** 3,
};

/** "256m", "1Gi", "512MiB": binary units, as Docker reads them. Below 6 MiB Docker refuses to start a container. */
export function parseMemoryBytes(v: unknown): number | null {
  if (typeof v !== 'string') return null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(v);
  const unit = m ? MEMORY_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined || m[2] === '') return null;
  const bytes = Math.floor(Number(m[1]) * unit);
  return bytes >= 6 * 1024 ** 2 ? bytes : null;
}

const memory = field('a memory size of at least 6m with a unit, such as 256m or 1g', parseMemoryBytes);
const cpus = field('a number of CPU cores above 0, such as 0.5 or 2', (v) => (typeof v === 'number' && v > 0 && v <= 1024 ? v : null));

export const resourcesSection = section({ memory: memory.optional(), cpus: cpus.optional() })
  .transform((r) => ({ memoryBytes: r.memory ?? null, cpus: r.cpus ?? null }));

// A path inside the artefact: relative, no way out of it.
const dockerfilePath = field('a path of a Dockerfile inside the service directory, such as Dockerfile or docker/Dockerfile', (v) =>
  typeof v === 'string' && v.length > 0 && !v.startsWith('/') && !v.split(/[\\/]/).includes('..') ? v : null,
);
// What `docker pull` would accept: [registry/]name[:tag][@digest], or an image id.
const IMAGE_REF = /^(sha256:[0-9a-f]{64}|[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?)$/;
const imageRef = field('an image reference such as registry.example.com/hello:1.4 or hello@sha256:...', (v) =>
  typeof v === 'string' && v.length <= 255 && IMAGE_REF.test(v) ? v : null,
);

export const DEFAULT_DOCKERFILE = 'Dockerfile';

export const imageSection = section({ dockerfile: dockerfilePath.optional(), ref: imageRef.optional() }).transform((i, ctx): ImageSpec => {
  if (i.dockerfile !== undefined && i.ref !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['ref'], message: 'give either dockerfile (build the image from the artefact) or ref (use this image), not both' });
    return z.NEVER;
  }
  return i.ref !== undefined ? { dockerfile: null, ref: i.ref } : { dockerfile: i.dockerfile ?? DEFAULT_DOCKERFILE, ref: null };
});

export const PROCESS_RESOURCES_REFUSAL = 'the process runtime cannot limit instances; remove resources, or set runtime: docker';
