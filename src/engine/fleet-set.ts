// The fleets a server offers, by the runtime an environment names: instances on
// this machine (process, docker) or a cluster (kubernetes). The engine asks here
// which fleet runs a release and never branches on the runtime itself.

import { SlipwayError } from '../core/errors.ts';
import type { ReleaseRecord } from '../core/records.ts';
import type { RuntimeName } from '../core/service-config.ts';
import type { Fleet } from '../core/ports/fleet.ts';

export class FleetSet {
  private readonly byRuntime = new Map<RuntimeName, Fleet>();

  constructor(fleets: Fleet[]) {
    for (const f of fleets) for (const r of f.runtimes) this.byRuntime.set(r, f);
  }

  /** The fleet that runs `runtime`; E_RUNTIME_UNAVAILABLE when this server offers none. */
  named(runtime: RuntimeName): Fleet {
    const fleet = this.byRuntime.get(runtime);
    if (!fleet) throw new SlipwayError('E_RUNTIME_UNAVAILABLE', `this slipway server has no ${runtime} runtime; run the environment with another runtime`, { runtime });
    return fleet;
  }

  of(release: Pick<ReleaseRecord, 'config'>): Fleet {
    return this.named(release.config.environment.runtime);
  }

  /** Each fleet once. */
  all(): Fleet[] {
    return [...new Set(this.byRuntime.values())];
  }
}
