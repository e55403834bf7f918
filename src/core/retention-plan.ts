// Release retention, decided: which releases to retire and which of their things
// (unpacked trees, artefacts, images) may go. Pure: the engine gathers what is in
// use and carries the plan out (engine/release-retention.ts).
//
// Invariant: nothing a kept or pinned release refers to is ever in the plan's
// removals. Trees, artefacts and images are shared (two releases of one artefact
// share a tree in their environment; environments of one service share the
// artefact and its image), so each is removed only when every release that refers
// to it is retired.

export const DEFAULT_KEEP_RELEASES = 10;

/**
 * What retention reads of a release: where its things are, and whether it is retired
 * (and its things removed). store/retention-store.ts answers it as it is.
 */
export interface RetentionCandidate {
  id: number;
  env: string;
  number: number;
  artefactDigest: string;
  dir: string;
  imageId: string | null;
  /** When retention retired it; null: it is not retired. */
  retiredAt: number | null;
  /** When its things were removed; null: not yet (or it is not retired). */
  cleanedAt: number | null;
}

export interface RetentionInput {
  releases: readonly RetentionCandidate[];
  /** How many of an environment's newest releases are kept whatever else holds. */
  keepNewest: (env: string) => number;
  /** Releases in use: serving, running, a rollback's target, in a rollout. */
  pinnedReleases: ReadonlySet<number>;
  /** Artefacts in use: a pipeline run's awaiting sign-off, a deploy being prepared. */
  pinnedArtefacts: ReadonlySet<string>;
}

export interface RetentionPlan {
  /** Releases to mark retired now. */
  retire: number[];
  /** Retired releases whose things are removed by this plan (then marked cleaned). */
  clean: number[];
  dirs: string[];
  artefacts: string[];
  images: string[];
}

export function planRetention(input: RetentionInput): RetentionPlan {
  const newest = newestPerEnv(input);
  const isPinned = (r: RetentionCandidate) => input.pinnedReleases.has(r.id) || input.pinnedArtefacts.has(r.artefactDigest);
  const retire = input.releases.filter((r) => r.retiredAt === null && !newest.has(r.id) && !isPinned(r)).map((r) => r.id);
  const retiring = new Set(retire);
  const isKept = (r: RetentionCandidate) => (r.retiredAt === null && !retiring.has(r.id)) || isPinned(r);
  const kept = input.releases.filter(isKept);
  const inUse = {
    dirs: new Set(kept.map((r) => r.dir)),
    artefacts: new Set([...kept.map((r) => r.artefactDigest), ...input.pinnedArtefacts]),
    images: new Set(kept.flatMap((r) => (r.imageId === null ? [] : [r.imageId]))),
  };
  const cleaning = input.releases.filter((r) => !isKept(r) && r.cleanedAt === null);
  const unused = (values: (string | null)[], used: Set<string>) =>
    [...new Set(values.filter((v): v is string => v !== null && !used.has(v)))];
  return {
    retire,
    clean: cleaning.map((r) => r.id),
    dirs: unused(cleaning.map((r) => r.dir), inUse.dirs),
    artefacts: unused(cleaning.map((r) => r.artefactDigest), inUse.artefacts),
    images: unused(cleaning.map((r) => r.imageId), inUse.images),
  };
}

/** Ids of each environment's newest `keepNewest(env)` releases, by number. */
function newestPerEnv(input: RetentionInput): Set<number> {
  const byEnv = new Map<string, RetentionCandidate[]>();
  for (const r of input.releases) byEnv.set(r.env, [...(byEnv.get(r.env) ?? []), r]);
  const out = new Set<number>();
  for (const [env, releases] of byEnv) {
    const sorted = [...releases].sort((a, b) => b.number - a.number);
    for (const r of sorted.slice(0, Math.max(1, input.keepNewest(env)))) out.add(r.id);
  }
  return out;
}
