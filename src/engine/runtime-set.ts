// The runtimes a server can run instances with, by name: the engine picks one per
// environment (from the release's config) and per instance (from its record).

import { SlipwayError } from '../core/errors.ts';
import type { RuntimeName } from '../core/service-config.ts';
import type { Runtime } from '../core/ports/runtime.ts';

export type RuntimeSet = Partial<Record<RuntimeName, Runtime>>;

export function runtimeNamed(set: RuntimeSet, name: RuntimeName): Runtime {
  const runtime = set[name];
  if (!runtime) throw new SlipwayError('E_RUNTIME_UNAVAILABLE', `this slipway server has no ${name} runtime; run the environment with another runtime`, { runtime: name });
  return runtime;
}
