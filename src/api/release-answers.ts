// Releases as the API answers them: the engine's view of each, with whether release
// retention removed it (docs/retention.md). A retired release stays listed (its rows
// stay in state.db) but its tree, artefact and image are gone, so no rollback can go
// to it; clients read `retired` to say so and to offer no rollback to it.

import { SlipwayError } from '../core/errors.ts';
import type { ReleaseRecord } from '../core/records.ts';
import type { PageInfo, PageRequest, ReadModels } from '../engine/read-models.ts';
import { releaseView, type ReleaseView } from '../engine/status-view.ts';

/** When release retention retired the release (epoch ms); null: kept, a rollback may go to it. */
export type Retirement = { at: number } | null;

export type ReleaseJson = ReleaseView & { retired: Retirement };

/**
 * A page of an environment's releases, newest first. `total`: releases in all; `more`:
 * older ones follow this page, asked for with `before=<next>`.
 */
export type ReleaseListJson = { env: string; stable: number | null; releases: (ReleaseJson & { isStable: boolean })[] } & PageInfo;

export interface ReleaseAnswers {
  /** One release, with its retirement. */
  view(release: ReleaseRecord): ReleaseJson;
  /**
   * A page of the environment's releases (the newest 50 unless `page` says otherwise),
   * newest first, each with its retirement. A `before` naming no release of the
   * environment is refused (E_BAD_REQUEST): a cursor from elsewhere would page nowhere.
   */
  list(env: string, page?: PageRequest): ReleaseListJson;
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
    list(env, page = { limit: 50 }) {
      if (page.before !== undefined && !reads.releases.byNumber(env, page.before)) {
        throw new SlipwayError('E_BAD_REQUEST', `query: before: ${env} has no release #${page.before}; give the \`next\` of the page before (see slipway releases ${env})`, { field: 'before', env });
      }
      const { stable, releases, total, more, next } = reads.releases.list(env, page);
      return {
        env, stable,
        releases: releases.map((r) => {
          const record = reads.releases.byNumber(env, r.number);
          return { ...r, retired: record ? retirementOf(record) : null };
        }),
        total, more, next,
      };
    },
  };
}
