// What `slipway down` and `slipway remove` record. Down: a mark on the environment
// (who, when, which release ran), its history kept. Remove: every row of the
// environment goes, in one transaction; the audit log keeps its entries (they are
// hash-chained, and who removed what is exactly what it is for).

import { SlipwayError } from '../core/errors.ts';
import type { Db } from './open-database.ts';

type Row = Record<string, unknown>;

/** Who took an environment down, when, and the release it was running then (null: none was stable). */
export interface DownMark {
  at: number;
  by: string;
  /** The release number that was stable when it went down. */
  release: number | null;
}

/** How many rows of each kind a removal deleted. */
export type ForgottenCounts = Record<'releases' | 'rollouts' | 'instances' | 'configVersions' | 'secretVersions' | 'events' | 'metricSamples', number>;

/**
 * Tables keyed by environment, children first (foreign keys: rollout events →
 * rollouts → releases; instances and cluster replicas → releases; the environment's
 * stable release → releases). The audit log is not among them.
 */
const FORGET_ORDER: [table: string, column: string, count?: keyof ForgottenCounts][] = [
  ['notification_failures', 'env'],
  ['events', 'env', 'events'],
  ['analysis_windows', 'env'],
  ['metric_samples', 'env', 'metricSamples'],
  ['cluster_replicas', 'env'],
  ['instances', 'env', 'instances'],
  ['environments', 'name'],
  ['rollouts', 'env', 'rollouts'],
  ['releases', 'env', 'releases'],
  ['config_versions', 'env', 'configVersions'],
  ['secret_versions', 'env', 'secretVersions'],
];

export class TeardownStore {
  constructor(private readonly db: Db) {}

  /** Marks the environment down and forgets its stable release, in one transaction. */
  markDown(env: string, mark: DownMark): void {
    this.db.transaction(() => {
      this.db.prepare('INSERT OR IGNORE INTO environments (name) VALUES (?)').run(env);
      this.db.prepare('UPDATE environments SET stable_release_id = NULL, down_json = ? WHERE name = ?').run(JSON.stringify(mark), env);
    })();
  }

  /** The environment's down mark; null when it was never taken down, or runs a release again. */
  downMark(env: string): DownMark | null {
    const r = this.db.prepare('SELECT stable_release_id, down_json FROM environments WHERE name = ?').get(env) as Row | undefined;
    // A deploy after `down` sets a stable release again: the mark then no longer holds.
    if (!r || r.down_json === null || r.down_json === undefined || r.stable_release_id !== null) return null;
    try {
      return JSON.parse(String(r.down_json)) as DownMark;
    } catch (e) {
      throw new SlipwayError('E_STATE_CORRUPT', `state.db holds unreadable JSON in the down mark of ${env}`, { env }, { cause: e });
    }
  }

  /**
   * The service's environments this server knows: deployed to, or given config (the
   * keys `<service>/<env>`, as engine/config-releases.ts's isKnownEnvironment reads them).
   */
  environmentsOf(service: string): string[] {
    const prefix = `${service}/`;
    return (this.db.prepare(
      `SELECT name FROM environments WHERE substr(name, 1, ?) = ?
       UNION SELECT env FROM config_versions WHERE substr(env, 1, ?) = ? ORDER BY 1`,
    ).all(prefix.length, prefix, prefix.length, prefix) as Row[]).map((r) => String(r.name));
  }

  /** Deletes every row of the environment but its audit entries; answers how many of each went. */
  forget(env: string): ForgottenCounts {
    const counts: ForgottenCounts = { releases: 0, rollouts: 0, instances: 0, configVersions: 0, secretVersions: 0, events: 0, metricSamples: 0 };
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM rollout_events WHERE rollout_id IN (SELECT id FROM rollouts WHERE env = ?)').run(env);
      for (const [table, column, count] of FORGET_ORDER) {
        const info = this.db.prepare(`DELETE FROM ${table} WHERE ${column} = ?`).run(env);
        if (count) counts[count] = info.changes;
      }
    })();
    return counts;
  }
}
