// What `slipway releases` prints: every release, newest first, and which of them a
// rollback can go to. Release retention (docs/retention.md) removes old releases'
// trees, artefacts and images but keeps their rows, so a retired release is listed,
// marked, and left out of the rollback choices: a rollback to it is refused.

import pc from 'picocolors';
import type { ReleasesJson } from '../api/views.ts';
import { terminalSafe } from './output.ts';

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
  return [...rows, '', `${to}${why}`].join('\n');
}
