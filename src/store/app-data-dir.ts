// Where an environment's instances keep data of their own across releases and
// rollbacks: <data-dir>/app-data/<service>/<env>, given to each instance as
// SLIPWAY_APP_DATA. Beside the releases, never inside one: a release directory is
// replaced by the next deploy and a rollback runs an older one, and both must find
// the same files. The one place this path is made; every user calls appDataDir.

import { join } from 'node:path';
import { SlipwayError } from '../core/errors.ts';

export const APP_DATA_DIR_NAME = 'app-data';

// Service and environment names are checked by slipway.yaml's schema already; this
// guards the path itself, so that no name can climb out of app-data/.
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function appDataDir(dataDir: string, service: string, envName: string): string {
  for (const [what, name] of [['service', service], ['environment', envName]] as const) {
    if (!SEGMENT.test(name) || name.includes('..')) {
      throw new SlipwayError('E_UNSAFE_PATH', `the ${what} name "${name}" cannot name a data directory: letters, digits, ".", "_" and "-" only`, { [what]: name });
    }
  }
  return join(dataDir, APP_DATA_DIR_NAME, service, envName);
}
