// Watches instances that receive traffic: a process that exits is out of the router
// within a tick; one that fails `unhealthy_threshold` probes in a row is retired.
// A serving instance whose last probe passed is probed every `steady_interval`
// (10 s by default), not every `interval`: a probe a second was most of a quiet
// app's log, and the router's passive health takes a failing instance out of
// traffic within its next requests. A failed probe brings probing back to
// `interval` until the instance passes or is retired, and during a rollout every
// instance of its environment is probed every `interval`: the rollout's judgement
// (restarts, health) should not wait 10 s.

import { probeHealth } from './health-probe.ts';
import { steadyProbeIntervalMs } from '../core/service-config.ts';
import type { StateStore } from '../store/state-store.ts';
import type { InstanceFleet } from './instance-fleet.ts';
import type { Clock, Timer } from './ports.ts';

export class HealthMonitor {
  private timer: Timer | null = null;
  private readonly failures = new Map<string, number>();
  private readonly lastProbeAt = new Map<string, number>();
  private readonly probing = new Set<string>();

  constructor(
    private readonly deps: { store: StateStore; fleet: InstanceFleet; clock: Clock; onUnhealthy(env: string, message: string): void },
    private readonly tickMs = 250,
  ) {}

  start(): void {
    this.timer ??= this.deps.clock.setInterval(() => void this.tick(), this.tickMs);
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  private async tick(): Promise<void> {
    const dead = await this.deps.fleet.reapDead().catch(() => []);
    for (const i of dead) this.forget(i.id);
    const now = this.deps.clock.now();
    const rolling = new Set(this.deps.store.activeRollouts().map((r) => r.env));
    for (const i of this.deps.store.liveInstances()) {
      if (i.state !== 'ready' || this.probing.has(i.id)) continue;
      const release = this.deps.store.getRelease(i.releaseId);
      if (!release) continue;
      const h = release.config.health;
      const every = this.failures.has(i.id) || rolling.has(i.env) ? h.intervalMs : steadyProbeIntervalMs(h);
      if (now - (this.lastProbeAt.get(i.id) ?? 0) < every) continue;
      this.lastProbeAt.set(i.id, now);
      this.probing.add(i.id);
      void probeHealth({ port: i.port, path: h.path, timeoutMs: h.timeoutMs })
        .then(async (probe) => {
          if (probe.ok) {
            this.failures.delete(i.id);
            return;
          }
          const n = (this.failures.get(i.id) ?? 0) + 1;
          this.failures.set(i.id, n);
          if (n >= h.unhealthyThreshold) {
            const reason = `instance ${i.id} failed ${n} health probes in a row (${probe.error ?? probe.status})`;
            this.forget(i.id);
            this.deps.onUnhealthy(i.env, reason);
            await this.deps.fleet.retire(i, { finalState: 'failed', reason });
          }
        })
        .catch(() => undefined)
        .finally(() => this.probing.delete(i.id));
    }
  }

  private forget(id: string): void {
    this.failures.delete(id);
    this.lastProbeAt.delete(id);
  }
}
