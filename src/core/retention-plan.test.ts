import { describe, expect, it } from 'vitest';
import { planRetention, type RetentionCandidate, type RetentionInput } from './retention-plan.ts';

/** Release `n` of `env`, artefact `a<n>` unless given, tree per artefact and environment. */
function rel(env: string, n: number, o: Partial<RetentionCandidate> = {}): RetentionCandidate {
  const artefactDigest = o.artefactDigest ?? `a${n}`;
  return { id: (env === 'prod' ? 100 : 0) + n, env, number: n, artefactDigest, dir: `${env}/${artefactDigest}`, imageId: null, retiredAt: null, cleanedAt: null, ...o };
}

const plan = (releases: RetentionCandidate[], o: Partial<RetentionInput> = {}) =>
  planRetention({ releases, keepNewest: () => 2, pinnedReleases: new Set(), pinnedArtefacts: new Set(), ...o });

describe('planRetention', () => {
  const cases: { name: string; releases: RetentionCandidate[]; input?: Partial<RetentionInput>; expected: Partial<ReturnType<typeof planRetention>> }[] = [
    {
      name: 'keeps the newest N of an environment and retires the rest with their trees and artefacts',
      releases: [1, 2, 3, 4].map((n) => rel('stage', n)),
      expected: { retire: [1, 2], clean: [1, 2], dirs: ['stage/a1', 'stage/a2'], artefacts: ['a1', 'a2'], images: [] },
    },
    {
      name: 'a pinned release (stable, rollback target, in a rollout) is kept beyond N',
      releases: [1, 2, 3, 4].map((n) => rel('stage', n)),
      input: { pinnedReleases: new Set([1]) },
      expected: { retire: [2], dirs: ['stage/a2'] },
    },
    {
      name: 'an artefact pinned by a run awaiting sign-off keeps every release of it, and its file',
      releases: [1, 2, 3, 4].map((n) => rel('stage', n)),
      input: { pinnedArtefacts: new Set(['a2']) },
      expected: { retire: [1], artefacts: ['a1'] },
    },
    {
      name: 'a tree shared with a kept release of the same artefact stays; the retired release is still retired',
      releases: [rel('stage', 1, { artefactDigest: 'x' }), rel('stage', 2), rel('stage', 3, { artefactDigest: 'x' })],
      expected: { retire: [1], clean: [1], dirs: [], artefacts: [] },
    },
    {
      name: 'an artefact and image another environment keeps stay; only this environment\'s tree goes',
      releases: [rel('stage', 1, { imageId: 'i1' }), rel('stage', 2), rel('stage', 3), rel('prod', 1, { artefactDigest: 'a1', imageId: 'i1' })],
      expected: { retire: [1], dirs: ['stage/a1'], artefacts: [], images: [] },
    },
    {
      name: 'images of retired releases go once no kept release uses them',
      releases: [rel('stage', 1, { imageId: 'i1' }), rel('stage', 2, { imageId: 'i2' }), rel('stage', 3, { imageId: 'i3' })],
      expected: { retire: [1], images: ['i1'] },
    },
    {
      name: 'a retired release not yet cleaned (a crash mid-removal) is cleaned again; a cleaned one is not',
      releases: [rel('stage', 1, { retiredAt: 1, cleanedAt: 2 }), rel('stage', 2, { retiredAt: 1 }), rel('stage', 3), rel('stage', 4)],
      expected: { retire: [], clean: [2], dirs: ['stage/a2'] },
    },
    {
      name: 'a redeploy of a retired release\'s artefact keeps the tree the new release shares',
      releases: [rel('stage', 1, { retiredAt: 1 }), rel('stage', 2), rel('stage', 3, { artefactDigest: 'a1' })],
      expected: { retire: [], clean: [1], dirs: [], artefacts: [] },
    },
    {
      name: 'a setting below 1 still keeps the newest release',
      releases: [1, 2].map((n) => rel('stage', n)),
      input: { keepNewest: () => 0 },
      expected: { retire: [1] },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(plan(c.releases, c.input)).toMatchObject(c.expected);
    });
  }
});
