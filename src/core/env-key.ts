// An environment belongs to a service: `shop/production` and `blog/production` are
// two environments with nothing in common. The key "<service>/<environment>" is the
// environment's identity everywhere state is kept (store rows, router routes,
// events, audit entries), so one service's deploy cannot name another's
// environment: the key it writes under is made from its own slipway.yaml's service.

const SERVICE = '[a-z][a-z0-9-]{0,62}';
const ENVIRONMENT = '[a-z][a-z0-9-]{0,30}';
const KEY = new RegExp(`^(${SERVICE})/(${ENVIRONMENT})$`);

/** A service's name, as `service:` in slipway.yaml gives it. */
export const SERVICE_NAME_PATTERN = new RegExp(`^${SERVICE}$`);
/** A bare environment name, as written under `environments:` in slipway.yaml. */
export const ENVIRONMENT_NAME_PATTERN = new RegExp(`^${ENVIRONMENT}$`);
/** What an API path or a CLI argument may name: `production` or `shop/production`. */
export const ENV_REFERENCE_PATTERN = new RegExp(`^(?:${SERVICE}/)?${ENVIRONMENT}$`);

export function envKey(service: string, environment: string): string {
  return `${service}/${environment}`;
}

/** The parts of a key; a bare name (from before services were first-class) has no service. */
export function splitEnvKey(key: string): { service: string | null; environment: string } {
  const m = KEY.exec(key);
  return m ? { service: m[1]!, environment: m[2]! } : { service: null, environment: key };
}

/** The name under `environments:` in slipway.yaml: `production` of `shop/production`. */
export function envNameOf(key: string): string {
  return splitEnvKey(key).environment;
}

export function isEnvKey(s: string): boolean {
  return KEY.test(s);
}

/**
 * A key as a single file-name or runtime-name component (`shop.production`): a
 * container or a log file cannot hold "/", and "." is in neither part of a key.
 */
export function envSlug(key: string): string {
  return key.replace('/', '.');
}
