// An environment's traffic gates in state.db: maintenance (until turned off) and a
// traffic pause (until its deadline or a resume). Kept as meta rows
// (`maintenance:<env>`, `traffic-pause:<env>`), one JSON value each, checked as it
// is read like every JSON column: a row that does not parse is refused, never
// taken as "no maintenance" (that would open the door by accident).

import { z } from 'zod';
import { SlipwayError } from '../core/errors.ts';
import type { Db } from './open-database.ts';

export interface MaintenanceRecord {
  message: string;
  retryAfterSeconds: number;
  /** When it was turned on (ms since the epoch), and by whom. */
  since: number;
  by: string;
}

export interface TrafficPauseRecord {
  /** When held requests are sent on by themselves (ms since the epoch). */
  untilMs: number;
  maxMs: number;
  queueLimit: number;
  since: number;
  by: string;
}

const maintenanceRow = z.strictObject({ message: z.string(), retryAfterSeconds: z.number(), since: z.number(), by: z.string() });
const pauseRow = z.strictObject({ untilMs: z.number(), maxMs: z.number(), queueLimit: z.number(), since: z.number(), by: z.string() });

const MAINTENANCE = 'maintenance:';
const PAUSE = 'traffic-pause:';

export class TrafficGateStore {
  constructor(private readonly db: Db) {}

  maintenance(env: string): MaintenanceRecord | null {
    return this.read(MAINTENANCE + env, maintenanceRow, 'maintenance');
  }

  pause(env: string): TrafficPauseRecord | null {
    return this.read(PAUSE + env, pauseRow, 'traffic pause');
  }

  setMaintenance(env: string, m: MaintenanceRecord): void {
    this.write(MAINTENANCE + env, m);
  }

  setPause(env: string, p: TrafficPauseRecord): void {
    this.write(PAUSE + env, p);
  }

  /** True when there was one to remove. */
  clearMaintenance(env: string): boolean {
    return this.db.prepare('DELETE FROM meta WHERE key = ?').run(MAINTENANCE + env).changes > 0;
  }

  clearPause(env: string): boolean {
    return this.db.prepare('DELETE FROM meta WHERE key = ?').run(PAUSE + env).changes > 0;
  }

  /** Environments with a pause recorded (ended or not): the engine re-arms or ends them at start. */
  pausedEnvironments(): string[] {
    const rows = this.db.prepare("SELECT key FROM meta WHERE key LIKE 'traffic-pause:%' ORDER BY key").all() as { key: string }[];
    return rows.map((r) => r.key.slice(PAUSE.length));
  }

  private write(key: string, value: unknown): void {
    this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, JSON.stringify(value));
  }

  private read<T>(key: string, schema: z.ZodType<T>, what: string): T | null {
    const r = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
    if (r === undefined) return null;
    try {
      return schema.parse(JSON.parse(r.value));
    } catch (e) {
      throw new SlipwayError('E_STATE_CORRUPT', `state.db holds an unreadable ${what} record for ${key.slice(key.indexOf(':') + 1)}; turn it off and on again`, { key }, { cause: e });
    }
  }
}
