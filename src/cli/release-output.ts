// What `slipway releases` prints: every release, newest first, and which of them a
// rollback can go to. Release retention (docs/retention.md) removes old releases'
// trees, artefacts and images but keeps their rows, so a retired release is listed,
// marked, and left out of the rollback choices: a rollback to it is refused.
//
// The API answers a page (the newest 50 unless asked otherwise); a cut list says so
// at its end, and --all pages through every release.

import pc from 'picocolors';
import { MAX_PAGE_LIMIT, type ReleasesQuery } from '../api/schemas.ts';
import type { ReleasesJson } from '../api/views.ts';
import { SlipwayError } from '../core/errors.ts';
import { terminalSafe } from './output.ts';

/** One page of releases, as ApiClient.releases asks for it. */
export type ReleasePage = (env: string, q?: ReleasesQuery) => Promise<ReleasesJson>;

/**
 * The newest `limit` releases of `env` (the server's page when none is given), or with
 * `all` every one, paged through by each page's `next`. The answer is one list: with
 * `all`, `more` is false and `next` null.
 */
export async function fetchReleases(page: ReleasePage, env: string, o: { limit?: number | undefined; all?: boolean | undefined }): Promise<ReleasesJson> {
  if (!o.all) {
    const answer = await page(env, o.limit === undefined ? {} : { limit: o.limit });
    if (o.limit !== undefined && answer.releases.length > o.limit) throw new SlipwayError('E_INTERNAL', `the server answered ${answer.releases.length} releases when asked for ${o.limit}; it does not page (is it older than this slipway?)`);
    return answer;
  }
  let answer = await page(env, { limit: MAX_PAGE_LIMIT });
  const releases = [...answer.releases];
  while (answer.more && answer.next !== null) {
    const before = answer.next;
    answer = await page(env, { limit: MAX_PAGE_LIMIT, before });
    // A page must start below its cursor: one that does not would be asked for again and again.
    if ((answer.releases[0]?.number ?? 0) >= before) throw new SlipwayError('E_INTERNAL', `the server answered releases from #${answer.releases[0]!.number} when asked for those before #${before}; it does not page (is it older than this slipway?)`);
    releases.push(...answer.releases);
  }
  return { ...answer, releases, more: false, next: null };
}

export function formatReleases(r: ReleasesJson): string {
  if (r.releases.length === 0) return `no releases in ${r.env}`;
  const rows = r.releases.map((x) => {
    const mark = x.isStable ? pc.green('*') : ' ';
    const state = x.isStable ? pc.green('stable') : x.retired ? pc.yellow(`removed by retention on ${new Date(x.retired.at).toISOString()}`) : '';
    return `${mark} #${String(x.number).padEnd(4)} ${x.artefactDigest.slice(0, 19)}  config ${x.configHash.slice(7, 15)}  ${new Date(x.createdAt).toISOString()}  ${terminalSafe(x.createdBy)}${state ? `  ${state}` : ''}`;
  });
  const reachable = r.releases.filter((x) => !x.isStable && !x.retired).map((x) => `#${x.number}`);
  const retired = r.releases.filter((x) => x.retired).length;
  const to = reachable.length > 0 ? `slipway rollback ${r.env} --to N can go to ${reachable.join(', ')}` : `no release to roll back to`;
  const why = retired > 0 ? `; ${retired === 1 ? 'the release' : `the ${retired} releases`} removed by retention cannot be rolled back to (deploy that version again)` : '';
  const cut = r.more ? [`showing newest ${r.releases.length} of ${r.total}; --all for every release`] : [];
  return [...rows, '', `${to}${why}`, ...cut].join('\n');
}
