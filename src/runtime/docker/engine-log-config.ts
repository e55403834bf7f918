// How the Docker engine keeps a container's output. slipway copies it into the
// instance's own rotated log (container-log.ts), so the engine's copy is only the
// buffer that copy is read from, including what a container writes while no server
// runs. Unbounded (the engine's default json-file has no max-size) it grows for the
// container's whole life beside slipway's bounded copy.

/** The service's `logs:` limits (the instance's own log file and how many old ones it keeps). */
export interface EngineLogLimits {
  maxFileBytes: number;
  maxFiles: number;
}

/** What slipway's own log keeps when a release says nothing (observe/rotating-log-file.ts). */
const FALLBACK: EngineLogLimits = { maxFileBytes: 10 * 1024 * 1024, maxFiles: 3 };

/**
 * json-file (the engine's log the follower reads back with `docker logs`), bounded
 * like slipway's own copy: files of `logs.max_file_size`, as many as slipway keeps
 * with its current one (`max_files + 1`). So the engine never holds more than
 * slipway would keep of the same output, and a server down for a while still finds
 * as much as it could have kept.
 */
export function engineLogConfig(limits: EngineLogLimits | undefined): { Type: 'json-file'; Config: { 'max-size': string; 'max-file': string } } {
  const l = limits ?? FALLBACK;
  return { Type: 'json-file', Config: { 'max-size': sizeText(l.maxFileBytes), 'max-file': String(Math.max(1, l.maxFiles + 1)) } };
}

/** In the engine's units: `10m`, `512k`. */
function sizeText(bytes: number): string {
  const mib = 1024 * 1024;
  if (bytes % mib === 0) return `${bytes / mib}m`;
  return `${Math.max(1, Math.ceil(bytes / 1024))}k`;
}
