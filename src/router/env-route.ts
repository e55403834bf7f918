// What the proxy needs of an environment: how to pick a backend, its limits, its
// counters. One object per environment for the router's life; a table swaps
// `picker`, `sticky` and `proxy` whole, so a request keeps what it started with.

import type { PassiveHealth } from './passive-health.ts';
import type { EnvProxy } from './proxy-settings.ts';
import type { StickyRoutes } from './route-table.ts';
import type { EnvCounters } from './router-stats.ts';
import type { ReplayRecorder } from './shadow/replay-recorder.ts';
import type { ShadowMirror } from './shadow/shadow-mirror.ts';
import type { MaintenanceAnswers, TrafficHold } from './traffic-hold.ts';
import type { Upstream } from './upstream.ts';
import type { WeightedPicker } from './weighted-picker.ts';

export interface EnvRoute {
  readonly name: string;
  picker: WeightedPicker<Upstream>;
  sticky: StickyRoutes | null;
  proxy: EnvProxy;
  readonly counters: EnvCounters;
  /** Told of every request's header or failure; ejects backends the traffic shows broken. */
  readonly health: PassiveHealth;
  /** Non-null: in maintenance; every request gets one of these 503s (traffic-gate.ts). */
  maintenance: MaintenanceAnswers | null;
  /** A traffic pause's held requests; `hold.isHolding` is checked for every request. */
  readonly hold: TrafficHold;
  /** Set on the plain-HTTP side of a TLS environment with redirect_http (tls/plain-answers.ts). */
  httpsRedirect?: HttpsRedirect | null;
  /** Set while a rollout is at a shadow step: copies requests stable answered to the new release (shadow/). */
  shadow?: ShadowMirror | null;
  /** Set when the environment's requests are recorded for replay to staging (shadow/replay-recorder.ts). */
  recorder?: ReplayRecorder | null;
}

/**
 * Where the plain-HTTP side of a TLS environment with redirect_http sends a
 * request: a 308 to https, unless a balancer in front already took it over TLS;
 * that one is the environment's own.
 */
export interface HttpsRedirect {
  /** The environment itself, with its trust rules: what serves a request that came over TLS. */
  readonly environment: EnvRoute;
  /** The TLS listener's address as the table gives it (its port may be 0). */
  readonly listen: string;
  /** The https port to name: the listen port, or for port 0 the one bound; null while none is. */
  httpsPort(): number | null;
}
