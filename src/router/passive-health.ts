// Passive health: the router takes a backend out of picking as soon as its own
// answers say it is broken, instead of waiting for the server's probes (3 × 1 s plus
// a 2 s probe timeout) while the backend keeps its share of traffic. Two signals:
//
// - failures: FAILURES_TO_EJECT connection errors or header timeouts in a row with no
//   response header in between (a backend's own 5xx is an answer, not a failure);
// - a stall: a request waiting for its response header for longer than the stall
//   threshold while the backend sent no header at all over that time. A backend that
//   is alive but not answering (SIGSTOP, a deadlock) still accepts connections, so
//   only silence shows it.
//
// At most MAX_EJECTED_SHARE of an environment's backends are out at once (never its
// only one): when the cause is on the router's side, or the load itself, ejecting
// everything would turn slowness into an outage. An ejected backend gets a trial
// after its cool-down (doubled for each ejection with no good answer in between),
// long enough that the server's probes decide first: a backend still hung then has
// failed them and left the table (and a re-listed one is a new backend, fresh). On
// trial the backend takes its share again; the first header brings it back for good,
// a single failure or a stall sends it out again at once. The router cannot probe
// by itself: the route table does not carry the health path, and a stopped process
// still accepts connections, so a TCP check would pass.
//
// Nothing here reads a clock: callers pass `nowMs` (performance.now()), so the unit
// test drives time by hand.

export interface PassiveHealthOptions {
  failuresToEject: number;
  /** The stall threshold is max(stallFloorMs, stallFactor × the backend's recent peak time to header). */
  stallFloorMs: number;
  stallFactor: number;
  maxEjectedShare: number;
  cooldownMs: number;
  maxCooldownMs: number;
}

export const PASSIVE_HEALTH_DEFAULTS: PassiveHealthOptions = {
  failuresToEject: 3,
  stallFloorMs: 500,
  stallFactor: 4,
  maxEjectedShare: 0.5,
  cooldownMs: 10_000,
  maxCooldownMs: 60_000,
};

/** One decay step per answer: the peak forgets a slow request after some hundreds of answers. */
const PEAK_DECAY = 0.99;

/** A request waiting for its response header. */
export interface HeaderWaiter {
  readonly sentAtMs: number;
  /** Asked once, when its backend is ejected for a stall: re-send it elsewhere if that is safe. */
  onBackendStalled(): void;
}

export type HealthState = 'in' | 'ejected' | 'trial';

/** A backend's health as the router sees it from its traffic. */
export class BackendHealth {
  state: HealthState = 'in';
  consecutiveFailures = 0;
  /** A decaying peak of the time to response header, in ms. */
  peakHeaderMs = 0;
  /** When the last response header arrived; 0 until the backend has answered once. */
  lastHeaderAtMs = 0;
  ejectedUntilMs = 0;
  /** Ejections since the last good answer; the cool-down doubles with each. */
  strikes = 0;
  /** An ejection was refused (share bound) and said so; not said again until the backend answers. */
  hasReportedRefusal = false;
  /** Requests waiting for their header, oldest first (a Set keeps insertion order). */
  readonly waiting = new Set<HeaderWaiter>();

  /** Whether the picker may choose this backend. */
  get isUsable(): boolean {
    return this.state !== 'ejected';
  }

  stallThresholdMs(o: PassiveHealthOptions): number {
    return Math.max(o.stallFloorMs, o.stallFactor * this.peakHeaderMs);
  }
}

/** What passive health needs of a backend (the router's Upstream). */
export interface TrackedBackend {
  readonly env: string;
  readonly id: string;
  readonly release: string;
  readonly health: BackendHealth;
  readonly counters: { ejections: number };
}

export interface HealthLog {
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
}

export interface PassiveHealthDeps {
  /** The backends of an environment now in the route table. */
  peers(env: string): Iterable<TrackedBackend>;
  log?: HealthLog;
  options?: Partial<PassiveHealthOptions>;
}

export class PassiveHealth {
  readonly options: PassiveHealthOptions;

  constructor(private readonly deps: PassiveHealthDeps) {
    this.options = { ...PASSIVE_HEALTH_DEFAULTS, ...deps.options };
  }

  sent(b: TrackedBackend, w: HeaderWaiter): void {
    b.health.waiting.add(w);
  }

  /** A response header arrived: the backend answers, whatever the status. */
  answered(b: TrackedBackend, w: HeaderWaiter, nowMs: number): void {
    const h = b.health;
    h.waiting.delete(w);
    h.peakHeaderMs = Math.max(nowMs - w.sentAtMs, h.peakHeaderMs * PEAK_DECAY);
    h.lastHeaderAtMs = nowMs;
    h.consecutiveFailures = 0;
    h.strikes = 0;
    h.hasReportedRefusal = false;
    if (h.state === 'trial') {
      h.state = 'in';
      this.deps.log?.info({ env: b.env, backend: b.id, release: b.release }, 'backend answered its trial request: back in the router');
    }
  }

  /** The request ended with no header: `failure` when the backend is to blame (not a client that left). */
  settled(b: TrackedBackend, w: HeaderWaiter, failure: string | null, nowMs: number): void {
    const h = b.health;
    h.waiting.delete(w);
    // Requests left waiting on an ejected backend (a POST) end later; they say nothing new.
    if (failure === null || h.state === 'ejected') return;
    h.consecutiveFailures++;
    if (h.state === 'trial') this.eject(b, `trial request failed (${failure})`, nowMs);
    else if (h.consecutiveFailures >= this.options.failuresToEject) {
      this.eject(b, `${h.consecutiveFailures} failures in a row (last: ${failure})`, nowMs);
    }
  }

  /** Called every ~100 ms: ejects stalled backends, and gives a trial to those whose cool-down is over. */
  sweep(backends: Iterable<TrackedBackend>, nowMs: number): void {
    for (const b of backends) {
      const h = b.health;
      if (h.state === 'ejected') {
        if (nowMs >= h.ejectedUntilMs) {
          h.state = 'trial';
          this.deps.log?.info({ env: b.env, backend: b.id, release: b.release }, 'cool-down over: backend back on trial (takes traffic; ejected again at its first failure or stall)');
        }
        continue;
      }
      const stalledMs = this.stalledForMs(h, nowMs);
      if (stalledMs > 0) this.eject(b, `no response header for ${Math.round(stalledMs)} ms with ${h.waiting.size} request(s) waiting`, nowMs);
    }
  }

  /** How long the oldest waiting request has waited, when that is a stall; else 0. */
  private stalledForMs(h: BackendHealth, nowMs: number): number {
    if (h.waiting.size === 0 || h.lastHeaderAtMs === 0) return 0;
    const oldest = h.waiting.values().next().value!;
    const threshold = h.stallThresholdMs(this.options);
    const waitedMs = nowMs - oldest.sentAtMs;
    return waitedMs > threshold && nowMs - h.lastHeaderAtMs > threshold ? waitedMs : 0;
  }

  /** Ejects `b` unless that would put more than the bounded share of its environment out; true if ejected. */
  eject(b: TrackedBackend, reason: string, nowMs: number): boolean {
    const h = b.health;
    const wasOut = h.state !== 'in';
    if (!wasOut && !this.hasRoomToEject(b.env)) {
      h.consecutiveFailures = 0; // ask again after as many failures, not at every one
      if (h.hasReportedRefusal) return false; // a stall is seen again at every sweep
      h.hasReportedRefusal = true;
      this.deps.log?.warn({ env: b.env, backend: b.id, release: b.release, reason }, 'backend looks unhealthy but stays in the router: too many of this environment are ejected already');
      return false;
    }
    const o = this.options;
    const cooldownMs = Math.min(o.maxCooldownMs, o.cooldownMs * 2 ** h.strikes);
    h.state = 'ejected';
    h.ejectedUntilMs = nowMs + cooldownMs;
    h.strikes++;
    h.consecutiveFailures = 0;
    b.counters.ejections++;
    this.deps.log?.warn({ env: b.env, backend: b.id, release: b.release, reason, cooldownMs }, 'backend ejected from the router (passive health)');
    // Copy first: a waiter re-sent elsewhere leaves the set as it goes.
    for (const w of [...h.waiting]) w.onBackendStalled();
    return true;
  }

  private hasRoomToEject(env: string): boolean {
    let total = 0;
    let out = 0;
    for (const p of this.deps.peers(env)) {
      total++;
      if (p.health.state !== 'in') out++;
    }
    return out + 1 <= Math.floor(total * this.options.maxEjectedShare);
  }
}
