// The service a command's bare environment names belong to: `--service`, else
// $SLIPWAY_SERVICE, else the `service:` of the slipway.yaml where the command runs.
// None of them: null, and the server takes a bare name only one service has.

import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { CONFIG_FILE_NAME } from '../config/index.ts';
import { SlipwayError } from '../core/errors.ts';
import { SERVICE_NAME } from '../config/fields.ts';
import { findServiceDir } from './service-dir.ts';

export function serviceHere(o: { service?: string | undefined; cwd?: string }): string | null {
  const given = o.service ?? process.env.SLIPWAY_SERVICE;
  if (given !== undefined && given !== '') {
    if (!SERVICE_NAME.test(given)) throw new SlipwayError('E_BAD_REQUEST', `--service ${JSON.stringify(given)} is not a service name: lowercase letters, digits and dashes, starting with a letter`);
    return given;
  }
  // From a subdirectory too: the nearest slipway.yaml above, as deploy finds it.
  const dir = findServiceDir(o.cwd ?? process.cwd());
  if (dir === null) return null;
  const file = resolve(dir, CONFIG_FILE_NAME);
  try {
    // Only the name: a slipway.yaml with other problems still says whose directory this is.
    const doc = parse(readFileSync(file, 'utf8')) as { service?: unknown } | null;
    return typeof doc?.service === 'string' && SERVICE_NAME.test(doc.service) ? doc.service : null;
  } catch {
    return null;
  }
}
