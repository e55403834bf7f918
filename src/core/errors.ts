// The one error type of slipway. Codes are public API (listed in docs/errors.md and
// kept in step by a test); messages say what to do and may be reworded.

export const ERROR_CODES = [
  'E_CONFIG_INVALID',
  'E_CONFIG_NOT_FOUND',
  'E_BAD_REQUEST',
  'E_NOT_FOUND',
  'E_ENV_UNKNOWN',
  'E_ENV_LOCKED',
  'E_ROLLOUT_STATE',
  'E_NO_RELEASE',
  'E_ARTEFACT_INVALID',
  'E_ARTEFACT_TAMPERED',
  'E_BLOB_MISSING',
  'E_UNSAFE_PATH',
  'E_HEALTH_FAILED',
  'E_INSTANCE_FAILED',
  'E_DEPLOY_FAILED',
  'E_ROUTER_UNAVAILABLE',
  'E_LISTEN_FAILED',
  'E_LISTEN_CONFLICT',
  'E_SERVER_UNREACHABLE',
  'E_SERVER_AMBIGUOUS',
  'E_DATA_DIR_LOCKED',
  'E_STATE_CORRUPT',
  'E_SECRET_KEY',
  'E_SECRET_UNAVAILABLE',
  'E_UNAUTHENTICATED',
  'E_FORBIDDEN',
  'E_POLICY_DENIED',
  'E_RATE_LIMITED',
  'E_AUDIT_BROKEN',
  'E_GATE_BLOCKED',
  'E_APPROVAL_REFUSED',
  'E_RUN_STATE',
  'E_WEBHOOK_SIGNATURE',
  'E_RUNTIME_UNAVAILABLE',
  'E_IMAGE_MISSING',
  'E_PORT_TAKEN',
  'E_DISK_FULL',
  'E_SERVICE_MISMATCH',
  'E_ENV_AMBIGUOUS',
  'E_TLS_ACME',
  'E_TLS_CERTIFICATE',
  'E_TEST_REPORT_INVALID',
  'E_INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class SlipwayError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'SlipwayError';
  }
}

export function isSlipwayError(e: unknown): e is SlipwayError {
  return e instanceof SlipwayError;
}

/** The message of anything thrown, for wrapping: never throws itself. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
