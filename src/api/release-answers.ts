// Releases as the API answers them: the engine's view of each, with whether release
// retention removed it (docs/retention.md). A retired release stays listed (its rows
// stay in state.db) but its tree, artefact and image are gone, so no rollback can go
// to it; clients read `retired` to say so and to offer no rollback to it.

import type { ReleaseRecord } from '../core/records.ts';
import type { ReadModels } from '../engine/read-models.ts';
import { releaseView, type ReleaseView } from '../engine/status-view.ts';

/** When release retention retired the release (epoch ms); null: kept, a rollback may go to it. */
export type Retirement = { at: number } | null;

export type ReleaseJson = ReleaseView & { retired: Retirement };

export type ReleaseListJson = { env: string; stable: number | null; releases: (ReleaseJson & { isStable: boolean })[] };

export interface ReleaseAnswers {
  /** One release, with its retirement. */
  view(release: ReleaseRecord): ReleaseJson;
  /** The environment's releases, newest first, each with its retirement. */
  list(env: string): ReleaseListJson;
}

export function releaseAnswers(reads: Pick<ReadModels, 'releases'>): ReleaseAnswers {
  // The same record a rollback is refused by (ReleaseRetention.assertKept reads it too),
  // so a release shown kept is one a rollback may go to, and one shown retired one it refuses.
  const retirementOf = (release: ReleaseRecord): Retirement => {
    const at = reads.releases.retiredAt(release.id);
    return at === null ? null : { at };
  };
  const view = (release: ReleaseRecord): ReleaseJson => ({ ...releaseView(release), retired: retirementOf(release) });
  return {
    view,
    list(env) {
      const { stable, releases } = reads.releases.list(env);
      return {
        env, stable,
        releases: releases.map((r) => {
          const record = reads.releases.byNumber(env, r.number);
          return { ...r, retired: record ? retirementOf(record) : null };
        }),
      };
    },
  };
}
