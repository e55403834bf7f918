// Where each analysis and watch window began (migration 11): written once when a
// window starts and dropped when it ends, so a restarted server resumes it. The
// evidence itself is the router's cumulative counters, which outlive the server;
// what a window needs of its own is its start and its baseline.

import type { Db } from './open-database.ts';

export interface StoredWindow {
  key: string;
  env: string;
  rolloutId: number;
  data: unknown;
}

export class AnalysisWindowStore {
  constructor(private readonly db: Db) {}

  save(w: StoredWindow, now: number): void {
    this.db.prepare('INSERT INTO analysis_windows (key, env, rollout_id, data_json, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET env = excluded.env, rollout_id = excluded.rollout_id, data_json = excluded.data_json, updated_at = excluded.updated_at')
      .run(w.key, w.env, w.rolloutId, JSON.stringify(w.data), now);
  }

  all(): StoredWindow[] {
    const rows = this.db.prepare('SELECT key, env, rollout_id, data_json FROM analysis_windows ORDER BY key').all() as { key: string; env: string; rollout_id: number; data_json: string }[];
    return rows.map((r) => ({ key: r.key, env: r.env, rolloutId: r.rollout_id, data: JSON.parse(r.data_json) as unknown }));
  }

  drop(key: string): void {
    this.db.prepare('DELETE FROM analysis_windows WHERE key = ?').run(key);
  }
}
