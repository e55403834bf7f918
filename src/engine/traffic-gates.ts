// Maintenance and traffic pauses: an operator closing an environment's door for a
// while (a database migration, an incident) without stopping its instances. Each is
// recorded in state.db first, then pushed to the router with the route table
// (route-sync.ts), so it survives a restart of the server and of the router, and a
// table repaired after drift keeps it.
//
// Deploys go on behind both: a release rolled out during maintenance starts, passes
// its health checks (which go to the instances, not through the router) and takes
// its weights, but no client reaches it until maintenance is off.

import { SlipwayError } from '../core/errors.ts';
import type { Timer } from '../core/clock.ts';
import { formatDurationMs } from '../core/duration.ts';
import { routerCarriesTraffic } from '../core/traffic-path.ts';
import { HOLD_QUEUE_MAX, MAINTENANCE_MESSAGE_MAX } from '../router/route-table.ts';
import type { StateStore } from '../store/state-store.ts';
import type { MaintenanceRecord, TrafficPauseRecord } from '../store/traffic-gate-store.ts';
import type { Clock, EngineLogger } from './ports.ts';
import { routingRelease } from './route-sync.ts';

export type { MaintenanceRecord, TrafficPauseRecord } from '../store/traffic-gate-store.ts';
export { HOLD_QUEUE_MAX, MAINTENANCE_MESSAGE_MAX };

export const DEFAULT_MAINTENANCE_MESSAGE = 'This service is down for maintenance. Please try again in a few minutes.';
export const DEFAULT_RETRY_AFTER_SECONDS = 120;
export const DEFAULT_HOLD_QUEUE_LIMIT = 10_000;
/** The longest pause: held clients wait all that time, and most give up long before. */
export const MAX_PAUSE_MS = 10 * 60_000;
export const MIN_PAUSE_MS = 100;

/**
 * Characters a maintenance message may not hold. The router serves the message as
 * it is (in its 503 page and JSON) and every API reader gets it raw, so it is
 * refused at input rather than escaped at each place that shows it: control
 * characters (C0 with tab and line feed, DEL, C1: a terminal acts on them), the
 * line and paragraph separators (the message is one line: a page collapses breaks
 * and a status line would be split), and the bidirectional embeddings, overrides
 * and isolates (U+202A–U+202E, U+2066–U+2069), which make text read otherwise than
 * it is stored.
 */
const UNSAFE_MESSAGE_CHARACTER = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

const CHARACTER_NAMES: Record<number, string> = {
  0x00: 'NULL', 0x07: 'BELL', 0x08: 'BACKSPACE', 0x09: 'TAB', 0x0a: 'LINE FEED', 0x0d: 'CARRIAGE RETURN', 0x1b: 'ESCAPE', 0x7f: 'DELETE',
  0x2028: 'LINE SEPARATOR', 0x2029: 'PARAGRAPH SEPARATOR',
  0x202a: 'LEFT-TO-RIGHT EMBEDDING', 0x202b: 'RIGHT-TO-LEFT EMBEDDING', 0x202c: 'POP DIRECTIONAL FORMATTING', 0x202d: 'LEFT-TO-RIGHT OVERRIDE', 0x202e: 'RIGHT-TO-LEFT OVERRIDE',
  0x2066: 'LEFT-TO-RIGHT ISOLATE', 0x2067: 'RIGHT-TO-LEFT ISOLATE', 0x2068: 'FIRST STRONG ISOLATE', 0x2069: 'POP DIRECTIONAL ISOLATE',
};

export interface UnsafeCharacter {
  /** `U+202E`. */
  codePoint: string;
  /** `RIGHT-TO-LEFT OVERRIDE`, or what kind of character it is. */
  name: string;
  /** 1-based, in characters (code points) of the text as given, leading spaces included. */
  position: number;
}

/**
 * The first character of `text` a maintenance message may not hold, null when
 * there is none. Blanks at either end are trimmed before the message is kept, so
 * only what lies between them is looked at.
 */
export function findUnsafeMessageCharacter(text: string): UnsafeCharacter | null {
  const start = text.length - text.trimStart().length;
  const end = start + text.trim().length;
  let position = 0;
  let offset = 0;
  for (const ch of text) {
    position++;
    const at = offset;
    offset += ch.length;
    if (at < start || at >= end || !UNSAFE_MESSAGE_CHARACTER.test(ch)) continue;
    const cp = ch.codePointAt(0)!;
    const name = CHARACTER_NAMES[cp] ?? (cp >= 0x2000 ? 'a bidirectional formatting character' : 'a control character');
    return { codePoint: `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`, name, position };
  }
  return null;
}

/** Why a message with `c` is refused, for the API's answer (the character itself is never echoed). */
export function unsafeMessageReason(c: UnsafeCharacter): string {
  return `the maintenance message has ${c.codePoint} (${c.name}) at character ${c.position}: it must be one line of plain text, without control characters (tab and line feed included) or bidirectional embedding, override and isolate characters (U+202A to U+202E, U+2066 to U+2069); nothing was changed`;
}

/** What `slipway status` shows of an environment's gates. */
export interface TrafficGateView {
  maintenance: MaintenanceRecord | null;
  /** The pause in force; null once lifted or past its deadline. */
  pause: TrafficPauseRecord | null;
}

/** What a gate command did: the gates now, and whether anything changed. */
export interface TrafficGateAnswer extends TrafficGateView {
  env: string;
  changed: boolean;
}

export interface TrafficGatesDeps {
  store: StateStore;
  clock: Clock;
  log: EngineLogger;
  /** Sends the route table (with the gates) to the router; resolves once it took it. */
  push: () => Promise<void>;
}

export class TrafficGates {
  private readonly timers = new Map<string, Timer>();

  constructor(private readonly deps: TrafficGatesDeps) {}

  view(env: string): TrafficGateView {
    const gates = this.deps.store.trafficGates;
    const pause = gates.pause(env);
    return { maintenance: gates.maintenance(env), pause: pause && pause.untilMs > this.deps.clock.now() ? pause : null };
  }

  async maintenanceOn(o: { env: string; message?: string | undefined; retryAfterSeconds?: number | undefined; actor: string }): Promise<TrafficGateAnswer> {
    this.assertRouted(o.env);
    const unsafe = o.message === undefined ? null : findUnsafeMessageCharacter(o.message);
    if (unsafe) throw new SlipwayError('E_BAD_REQUEST', unsafeMessageReason(unsafe), { field: 'message', character: unsafe.codePoint, position: unsafe.position });
    const message = (o.message ?? DEFAULT_MAINTENANCE_MESSAGE).trim();
    if (message === '' || message.length > MAINTENANCE_MESSAGE_MAX) {
      throw new SlipwayError('E_BAD_REQUEST', `the maintenance message must be 1 to ${MAINTENANCE_MESSAGE_MAX} characters (it has ${message.length}); nothing was changed`, { field: 'message' });
    }
    const retryAfterSeconds = o.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS;
    if (!Number.isInteger(retryAfterSeconds) || retryAfterSeconds < 1 || retryAfterSeconds > 86_400) {
      throw new SlipwayError('E_BAD_REQUEST', '--retry-after must be a whole number of seconds from 1 to 86400 (a day); nothing was changed', { field: 'retryAfterSeconds' });
    }
    const record: MaintenanceRecord = { message, retryAfterSeconds, since: this.deps.clock.now(), by: o.actor };
    const before = this.deps.store.trafficGates.maintenance(o.env);
    const isSame = before !== null && before.message === record.message && before.retryAfterSeconds === record.retryAfterSeconds;
    if (!isSame) this.deps.store.trafficGates.setMaintenance(o.env, before ? { ...record, since: before.since } : record);
    await this.deps.push();
    this.deps.log.warn({ env: o.env, by: o.actor }, 'maintenance on: the router answers every request 503');
    return { env: o.env, changed: !isSame, ...this.view(o.env) };
  }

  async maintenanceOff(o: { env: string; actor: string }): Promise<TrafficGateAnswer> {
    this.assertKnown(o.env);
    const changed = this.deps.store.trafficGates.clearMaintenance(o.env);
    await this.deps.push();
    if (changed) this.deps.log.info({ env: o.env, by: o.actor }, 'maintenance off: the router serves the environment again');
    return { env: o.env, changed, ...this.view(o.env) };
  }

  /**
   * Holds new requests for at most `maxMs` from now. A second pause while one holds
   * replaces it (a new deadline from now): the held requests stay held, in order.
   */
  async pause(o: { env: string; maxMs: number; queueLimit?: number | undefined; actor: string }): Promise<TrafficGateAnswer> {
    this.assertRouted(o.env);
    if (!Number.isInteger(o.maxMs) || o.maxMs < MIN_PAUSE_MS || o.maxMs > MAX_PAUSE_MS) {
      throw new SlipwayError('E_BAD_REQUEST', `--max must be from ${formatDurationMs(MIN_PAUSE_MS)} to ${formatDurationMs(MAX_PAUSE_MS)} (held clients wait all that time); nothing was changed`, { field: 'maxMs' });
    }
    const queueLimit = o.queueLimit ?? DEFAULT_HOLD_QUEUE_LIMIT;
    if (!Number.isInteger(queueLimit) || queueLimit < 1 || queueLimit > HOLD_QUEUE_MAX) {
      throw new SlipwayError('E_BAD_REQUEST', `--queue-limit must be a whole number from 1 to ${HOLD_QUEUE_MAX}; nothing was changed`, { field: 'queueLimit' });
    }
    const now = this.deps.clock.now();
    const record: TrafficPauseRecord = { untilMs: now + o.maxMs, maxMs: o.maxMs, queueLimit, since: now, by: o.actor };
    this.deps.store.trafficGates.setPause(o.env, record);
    this.arm(o.env, record);
    await this.deps.push();
    this.deps.log.warn({ env: o.env, by: o.actor, maxMs: o.maxMs }, 'traffic paused: the router holds new requests');
    return { env: o.env, changed: true, ...this.view(o.env) };
  }

  async resume(o: { env: string; actor: string }): Promise<TrafficGateAnswer> {
    this.assertKnown(o.env);
    this.cancel(o.env);
    const wasPaused = this.view(o.env).pause !== null;
    this.deps.store.trafficGates.clearPause(o.env);
    await this.deps.push();
    if (wasPaused) this.deps.log.info({ env: o.env, by: o.actor }, 'traffic resumed: held requests sent on in arrival order');
    return { env: o.env, changed: wasPaused, ...this.view(o.env) };
  }

  /**
   * At start: pauses a previous server left are armed again, or cleared when past
   * their deadline (the router released those by itself).
   */
  start(): void {
    for (const env of this.deps.store.trafficGates.pausedEnvironments()) {
      const pause = this.deps.store.trafficGates.pause(env);
      if (pause) this.arm(env, pause);
    }
  }

  stop(): void {
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
  }

  /** At the deadline the router releases by itself; this clears the record so status and the next table agree. */
  private arm(env: string, pause: TrafficPauseRecord): void {
    this.cancel(env);
    const timer = this.deps.clock.setTimeout(() => {
      this.timers.delete(env);
      if (this.deps.store.trafficGates.pause(env)?.untilMs !== pause.untilMs) return;
      this.deps.store.trafficGates.clearPause(env);
      this.deps.log.info({ env }, 'traffic pause ended at its deadline: held requests sent on');
      void this.deps.push().catch((e: Error) => this.deps.log.warn({ env, err: e.message }, 'could not send the route table after a pause ended'));
    }, Math.max(0, pause.untilMs - this.deps.clock.now()));
    this.timers.set(env, timer);
  }

  private cancel(env: string): void {
    this.timers.get(env)?.cancel();
    this.timers.delete(env);
  }

  private assertKnown(env: string): void {
    if (!this.deps.store.listEnvironmentNames().includes(env)) {
      throw new SlipwayError('E_ENV_UNKNOWN', `nothing has been deployed to "${env}" yet`, { env });
    }
  }

  /** Only the router can gate traffic: an environment behind a cluster's Gateway is refused. */
  private assertRouted(env: string): void {
    this.assertKnown(env);
    const release = routingRelease(this.deps.store, env);
    if (release && !routerCarriesTraffic(release.config.environment)) {
      throw new SlipwayError('E_BAD_REQUEST', `${env}'s traffic goes through its cluster's Gateway (kubernetes.traffic: gateway), not slipway's router, which alone can hold or answer it; nothing was changed`, { env });
    }
  }
}
