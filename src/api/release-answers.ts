// Releases as the API answers them: the engine's view of each, with whether release
// retention removed it (docs/retention.md). A retired release stays listed (its rows
// stay in state.db) but its tree, artefact and image are gone, so no rollback can go
// to it; clients read `retired` to say so and to offer no rollback to it.

import { isSlipwayError } from '../core/errors.ts';
import type { ReleaseRecord } from '../core/records.ts';
import type { Engine } from '../engine/engine.ts';
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

export function releaseAnswers(engine: Pick<Engine, 'retention'>, reads: Pick<ReadModels, 'releases'>): ReleaseAnswers {
  // Asked of the check a rollback itself passes or is refused by (assertKept), so a
  // release shown kept is one a rollback may go to, and one shown retired is one it
  // refuses, with the same date. The read models carry no retirement of their own.
  //
  // For a kept release the check is one lookup; for a retired one it also reads
  // every release to name the kept ones in its message (measured: a list of 50
  // retired releases took 0.5 s with 5,000 releases on the server). A retirement is
  // never undone and release ids are never given again, so each retired release is
  // asked once per server and remembered.
  const retired = new Map<number, number>();
  const retirementOf = (release: ReleaseRecord): Retirement => {
    const known = retired.get(release.id);
    if (known !== undefined) return { at: known };
    try {
      engine.retention.assertKept(release, 'list');
      return null;
    } catch (e) {
      if (!(isSlipwayError(e) && e.code === 'E_NO_RELEASE' && e.details.removedBy === 'retention')) throw e;
      const at = Number(e.details.retiredAt);
      retired.set(release.id, at);
      return { at };
    }
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
