// Which releases retention has retired (their tree, artefact and image removed, or
// being removed), and what the retention planner reads about every release. The
// mark is written before anything is removed and `cleaned_at` after: see
// engine/release-retention.ts for why in that order.

import type { RetentionCandidate } from '../core/retention-plan.ts';
import type { Db } from './open-database.ts';

type Row = Record<string, unknown>;

export class RetentionStore {
  constructor(private readonly db: Db) {}

  /** Every release as the planner reads it (core/retention-plan.ts), newest first within each environment. */
  releases(): RetentionCandidate[] {
    return (this.db.prepare(
      `SELECT r.id, r.env, r.number, r.artefact_digest, r.dir, r.image_id, rr.retired_at, rr.cleaned_at
       FROM releases r LEFT JOIN retired_releases rr ON rr.release_id = r.id ORDER BY r.env, r.number DESC`,
    ).all() as Row[]).map((r) => ({
      id: Number(r.id), env: String(r.env), number: Number(r.number), artefactDigest: String(r.artefact_digest), dir: String(r.dir),
      imageId: r.image_id == null ? null : String(r.image_id),
      retiredAt: r.retired_at == null ? null : Number(r.retired_at), cleanedAt: r.cleaned_at == null ? null : Number(r.cleaned_at),
    }));
  }

  /** When retention retired the release; null when it was not. */
  retiredAt(releaseId: number): number | null {
    const r = this.db.prepare('SELECT retired_at FROM retired_releases WHERE release_id = ?').get(releaseId) as Row | undefined;
    return r ? Number(r.retired_at) : null;
  }

  retire(releaseIds: readonly number[], now: number): void {
    const insert = this.db.prepare('INSERT OR IGNORE INTO retired_releases (release_id, retired_at, cleaned_at) VALUES (?, ?, NULL)');
    for (const id of releaseIds) insert.run(id, now);
  }

  markCleaned(releaseIds: readonly number[], now: number): void {
    const update = this.db.prepare('UPDATE retired_releases SET cleaned_at = ? WHERE release_id = ? AND cleaned_at IS NULL');
    for (const id of releaseIds) update.run(now, id);
  }

  /** Releases a cluster fleet still holds objects of (replicas asked, or kept for its history). */
  clusterReleaseIds(): number[] {
    return (this.db.prepare('SELECT DISTINCT release_id FROM cluster_replicas').all() as Row[]).map((r) => Number(r.release_id));
  }
}
