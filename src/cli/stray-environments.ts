// Environments the server runs for this directory's service that its slipway.yaml
// no longer has: deleting an environment from the file stops nothing by itself, so
// `slipway plan` and `slipway status` say so, and what to run.

import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import pc from 'picocolors';
import { envNameOf } from '../core/env-key.ts';
import { CONFIG_FILE_NAME } from '../config/index.ts';
import type { EnvironmentStatus } from '../api/views.ts';
import { findServiceDir } from './service-dir.ts';

/** The service and environment names a slipway.yaml declares; null when there is none, or it cannot be read. */
export function declaredEnvironments(file: string = resolve(findServiceDir() ?? '.', CONFIG_FILE_NAME)): { service: string; names: string[] } | null {
  if (!existsSync(file)) return null;
  try {
    // Only the names: a file with other problems still says which environments it has.
    const doc = parse(readFileSync(file, 'utf8')) as { service?: unknown; environments?: unknown } | null;
    if (typeof doc?.service !== 'string' || typeof doc.environments !== 'object' || doc.environments === null) return null;
    return { service: doc.service, names: Object.keys(doc.environments) };
  } catch {
    return null;
  }
}

/** Keys of the service's environments on the server that slipway.yaml does not declare, and that are not down already. */
export function strayEnvironments(envs: EnvironmentStatus[], declared: { service: string; names: string[] } | null): string[] {
  if (!declared) return [];
  return envs
    .filter((s) => s.service === declared.service && !declared.names.includes(s.name) && !s.down)
    .map((s) => s.env);
}

/** The lines `plan` and `status` print for them; '' when there are none. */
export function formatStrays(keys: string[]): string {
  return keys
    .map((k) => pc.yellow(`${k}: not in slipway.yaml, but still on the server: run \`slipway down ${envNameOf(k)}\` to stop it, or \`slipway remove ${envNameOf(k)}\` to forget it`))
    .join('\n');
}
