// Docker Engine API failures, told apart and said plainly: the engine is not
// there, the image is not there, the port is taken. Everything else keeps the
// engine's own words.

import { SlipwayError, errorMessage } from '../../core/errors.ts';

/** Where the client is pointed: DOCKER_HOST if set, else the default socket. */
export function engineAddress(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_HOST || 'unix:///var/run/docker.sock';
}

interface EngineFailure {
  code?: string;
  statusCode?: number;
  reason?: string;
  json?: { message?: string } | null;
}

/** The engine's message for a failed request (dockerode puts it in several places). */
export function engineMessage(e: unknown): string {
  const f = e as EngineFailure;
  return f?.json?.message ?? errorMessage(e).replace(/^\(HTTP code \d+\)\s*[a-z ]*-\s*/i, '');
}

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EHOSTUNREACH', 'ETIMEDOUT', 'EPIPE']);

export function isUnreachable(e: unknown): boolean {
  const f = e as EngineFailure;
  return (f?.code !== undefined && UNREACHABLE_CODES.has(f.code)) || /socket hang up|timeout/i.test(errorMessage(e));
}

export function isNotFound(e: unknown): boolean {
  return (e as EngineFailure)?.statusCode === 404;
}

/** `doing`: what slipway was doing, e.g. "start instance staging-1-abc". */
export function translateEngineError(e: unknown, doing: string, details: Record<string, unknown> = {}): SlipwayError {
  if (e instanceof SlipwayError) return e;
  const message = engineMessage(e);
  if (isUnreachable(e)) {
    return new SlipwayError(
      'E_RUNTIME_UNAVAILABLE',
      `cannot reach the Docker engine at ${engineAddress()} to ${doing} (${(e as EngineFailure).code ?? message}); start dockerd, or point DOCKER_HOST at a running engine`,
      { ...details, engine: engineAddress() },
      { cause: e },
    );
  }
  if (/port is already allocated|address already in use/i.test(message)) {
    return new SlipwayError('E_PORT_TAKEN', `cannot ${doing}: its port is taken (${message}); deploy again and slipway picks another`, details, { cause: e });
  }
  if (/no such image/i.test(message)) {
    return new SlipwayError('E_IMAGE_MISSING', `cannot ${doing}: the image is not on the Docker engine (${message}); slipway never pulls an image when it starts an instance: deploy again to build or pull it`, details, { cause: e });
  }
  return new SlipwayError('E_INSTANCE_FAILED', `cannot ${doing}: the Docker engine said: ${message}`, details, { cause: e });
}
