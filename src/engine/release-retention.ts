// Release retention: the newest `keep_releases` releases of each environment (10
// by default) keep their unpacked tree, artefact and image, and so does every
// release in use: serving or running anywhere, the one `slipway rollback` would go
// back to, the two sides (and preview) of a rollout under way or paused, any
// release of an artefact a pipeline run awaits sign-off for or a deploy is being
// prepared from. The rest are retired and their things removed, after each
// rollout that succeeds and at server start. core/retention-plan.ts decides; this
// carries the plan out.
//
// Crash safety, in this order:
//  1. the releases are marked retired, in the same transaction that read what is
//     in use (so a rollback or rollout recorded at the same moment either pinned
//     the release first or finds it retired);
//  2. each tree is renamed out of its path (`.retired-…`) and then deleted, each
//     artefact file unlinked, each image untagged by the engine;
//  3. the releases are marked cleaned.
// A crash after 1 leaves releases slipway never runs again (a rollback to one is
// refused, an instance of one is never started), and the next sweep (at the
// latest, the next start) finishes 2. Marking last instead would leave, after a
// crash, a half-deleted tree at the very path a redeploy of that artefact takes
// for an unpacked one (the engine unpacks only when the path is absent). The
// rename makes the path either whole or absent whatever the crash.

import { randomUUID } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { SlipwayError } from '../core/errors.ts';
import type { ReleaseRecord } from '../core/records.ts';
import { DEFAULT_KEEP_RELEASES, planRetention, type RetentionCandidate, type RetentionPlan } from '../core/retention-plan.ts';
import type { AuditInput } from '../store/audit-log.ts';
import type { StateStore } from '../store/state-store.ts';
import type { FleetSet } from './fleet-set.ts';
import type { EngineLogger, HostIdentity } from './ports.ts';

export interface RetentionReport {
  /** `env#number` of the releases retired by this sweep. */
  retired: string[];
  trees: number;
  artefacts: number;
  images: number;
  bytesFreed: number;
}

interface RetentionDeps {
  store: StateStore;
  fleets: FleetSet;
  /** releases/: every tree removed must be under it. */
  releasesDir: string;
  /** Removes trees given to the users that ran them (ports.ts). */
  identity: Pick<HostIdentity, 'removeTree'>;
  log: EngineLogger;
  audit?: { append(entry: AuditInput): unknown };
  now: () => number;
  /** The release `slipway rollback` (without --to) would go back to in an environment. */
  rollbackTargetOf: (env: string) => number | null;
  /** Artefact files were removed: blobs no kept artefact was made of may go. */
  onArtefactsRemoved: () => void;
}

/** What removing one kind of thing gave: per environment (for its audit entry), and what failed. */
interface Removed {
  count: number;
  bytes: number;
  failed: Set<string>;
}

export class ReleaseRetention {
  #running: Promise<unknown> = Promise.resolve();
  #pending = 0;
  /** Artefacts deploys and rollbacks are being prepared from, with how many of each. */
  readonly #held = new Map<string, number>();

  constructor(private readonly deps: RetentionDeps) {}

  /** Runs a sweep after any under way; one at a time. */
  sweep(why: string): Promise<RetentionReport> {
    this.#pending++;
    const run = this.#running.then(() => this.sweepNow(why)).finally(() => this.#pending--);
    this.#running = run.catch(() => undefined);
    return run;
  }

  /** Resolves when no sweep is under way (the server waits for it before closing the store). */
  async idle(): Promise<void> {
    while (this.#pending > 0) await this.#running;
  }

  /**
   * Runs `fn` with `digest` in use: no sweep removes its artefact, tree or image
   * meanwhile, and a sweep under way finishes first. For a deploy or rollback,
   * whose release is recorded only at the end of checks that read the artefact.
   * `waitForSweep: false` is for a release just found kept (assertKept, in the same
   * turn): every sweep already under way planned without retiring it, so removes
   * nothing of it (a thing is removed only when all its releases are retired), and
   * every later plan sees it held. A rollback then does not wait for image removals.
   */
  async holding<T>(digest: string | null, fn: () => Promise<T>, o: { waitForSweep?: boolean } = {}): Promise<T> {
    if (digest === null) return fn();
    if (o.waitForSweep !== false) await this.idle();
    this.#held.set(digest, (this.#held.get(digest) ?? 0) + 1);
    try {
      return await fn();
    } finally {
      const n = (this.#held.get(digest) ?? 1) - 1;
      if (n === 0) this.#held.delete(digest);
      else this.#held.set(digest, n);
    }
  }

  /** Throws E_NO_RELEASE, saying retention removed it, for a retired release. `doing`: 'roll back to', say. */
  assertKept(release: ReleaseRecord, doing: string): void {
    const retiredAt = this.deps.store.retention.retiredAt(release.id);
    if (retiredAt === null) return;
    const keep = this.keepOf(release.env);
    const stableId = this.deps.store.getStableReleaseId(release.env);
    const others = this.deps.store.retention.releases()
      .filter((r) => r.env === release.env && r.retiredAt === null && r.id !== stableId)
      .slice(0, 10).map((r) => `#${r.number}`);
    const choice = others.length > 0 ? `${doing} one that is kept (${others.join(', ')}; see slipway releases ${release.env}), or deploy that version again` : 'deploy that version again';
    throw new SlipwayError(
      'E_NO_RELEASE',
      `cannot ${doing} ${release.env}#${release.number}: it was removed by release retention on ${new Date(retiredAt).toISOString()} (an environment keeps its newest ${keep} release${keep === 1 ? '' : 's'}, keep_releases in slipway.yaml, and those in use); its unpacked tree, artefact and image are gone. ${choice[0]!.toUpperCase()}${choice.slice(1)}`,
      { env: release.env, release: release.number, removedBy: 'retention', retiredAt, keepReleases: keep },
    );
  }

  private keepOf(env: string): number {
    const { store } = this.deps;
    const stableId = store.getStableReleaseId(env);
    const release = (stableId === null ? null : store.getRelease(stableId)) ?? store.listReleases(env, 1)[0] ?? null;
    return release?.config.environment.keepReleases ?? DEFAULT_KEEP_RELEASES;
  }

  /** Plans and retires in one transaction: what is in use is read where the marks are written. */
  private decide(): { plan: RetentionPlan; rows: RetentionCandidate[] } {
    const { store } = this.deps;
    return store.atomically(() => {
      const rows = store.retention.releases();
      const { pinnedReleases, pinnedArtefacts } = pinsOf(store);
      for (const env of store.listEnvironmentNames()) {
        const id = this.deps.rollbackTargetOf(env);
        if (id !== null) pinnedReleases.add(id);
      }
      for (const digest of this.#held.keys()) pinnedArtefacts.add(digest);
      const keep = new Map<string, number>();
      const plan = planRetention({
        releases: rows,
        keepNewest: (env) => keep.get(env) ?? (keep.set(env, this.keepOf(env)), keep.get(env)!),
        pinnedReleases, pinnedArtefacts,
      });
      store.retention.retire(plan.retire, this.deps.now());
      return { plan, rows };
    });
  }

  private async sweepNow(why: string): Promise<RetentionReport> {
    const { plan, rows } = this.decide();
    this.removeInterruptedTrees();
    const byId = new Map(rows.map((r) => [r.id, r]));
    const cleaning = plan.clean.map((id) => byId.get(id)!);
    const trees = this.removeTrees(plan.dirs);
    const artefacts = this.removeArtefacts(plan.artefacts);
    const images = await this.removeImages(plan.images, rows);
    const failed = new Set([...trees.failed, ...artefacts.failed, ...images.failed]);
    const cleaned = cleaning.filter((r) => !failed.has(r.dir) && !failed.has(r.artefactDigest) && !(r.imageId !== null && failed.has(r.imageId)));
    this.deps.store.retention.markCleaned(cleaned.map((r) => r.id), this.deps.now());
    if (artefacts.count > 0) this.deps.onArtefactsRemoved();
    const retired = plan.retire.map((id) => byId.get(id)!);
    const report: RetentionReport = {
      retired: retired.map((r) => `${r.env}#${r.number}`),
      trees: trees.count, artefacts: artefacts.count, images: images.count, bytesFreed: trees.bytes + artefacts.bytes + images.bytes,
    };
    if (retired.length > 0 || report.bytesFreed > 0) {
      this.deps.log.info({ ...report, why }, `release retention (${why}): retired ${retired.length} release(s), removed ${trees.count} tree(s), ${artefacts.count} artefact(s) and ${images.count} image(s), freed ${formatBytes(report.bytesFreed)}`);
      this.audit(retired, report, why);
    }
    return report;
  }

  private audit(retired: RetentionCandidate[], report: RetentionReport, why: string): void {
    const envs = [...new Set(retired.map((r) => r.env))];
    try {
      for (const env of envs) {
        const numbers = retired.filter((r) => r.env === env).map((r) => r.number);
        this.deps.audit?.append({
          actor: 'slipway-retention', action: 'release.retire', env, target: `releases ${numbers.map((n) => `#${n}`).join(', ')}`, requestId: null, outcome: 'ok',
          details: { releases: numbers, keepReleases: this.keepOf(env), why, sweep: report },
        });
      }
      // Things of releases retired by an earlier sweep (finished after a crash): said once, without an environment.
      if (envs.length === 0 && report.bytesFreed > 0) {
        this.deps.audit?.append({ actor: 'slipway-retention', action: 'release.retire', env: null, target: 'releases retired before', requestId: null, outcome: 'ok', details: { why, sweep: report } });
      }
    } catch (e) {
      this.deps.log.error({ err: (e as Error).message }, 'could not write the audit entry of release retention');
    }
  }

  private removeTrees(dirs: string[]): Removed {
    const out: Removed = { count: 0, bytes: 0, failed: new Set() };
    for (const dir of dirs) {
      if (!this.isUnderReleases(dir)) {
        this.deps.log.warn({ dir }, 'release retention left a release directory outside releases/ alone');
        continue;
      }
      if (!existsSync(dir)) continue;
      const aside = join(dirname(dir), `.retired-${basename(dir)}-${randomUUID().slice(0, 8)}`);
      try {
        renameSync(dir, aside);
        out.bytes += bytesUnder(aside);
        // The tree is its environment's user's: that user empties it (HostIdentity.removeTree).
        this.deps.identity.removeTree(aside);
        out.count++;
      } catch (e) {
        out.failed.add(dir);
        this.deps.log.warn({ dir, err: (e as Error).message }, 'release retention could not remove a release tree; the next sweep tries again');
      }
    }
    return out;
  }

  /** `.retired-…` trees a crash left half-deleted: already out of every path anything runs from. */
  private removeInterruptedTrees(): void {
    for (const env of listDir(this.deps.releasesDir)) {
      for (const name of listDir(join(this.deps.releasesDir, env))) {
        if (name.startsWith('.retired-')) {
          try {
            this.deps.identity.removeTree(join(this.deps.releasesDir, env, name));
          } catch (e) {
            this.deps.log.warn({ dir: join(env, name), err: (e as Error).message }, 'release retention could not finish removing a tree; the next sweep tries again');
          }
        }
      }
    }
  }

  private removeArtefacts(digests: string[]): Removed {
    const out: Removed = { count: 0, bytes: 0, failed: new Set() };
    for (const digest of digests) {
      const path = this.deps.store.getArtefact(digest)?.path;
      if (!path || !existsSync(path)) continue;
      try {
        const bytes = statSync(path).size;
        // The record stays (releases refer to it): its file being gone is what every check reads.
        rmSync(path, { force: true });
        out.count++;
        out.bytes += bytes;
      } catch (e) {
        out.failed.add(digest);
        this.deps.log.warn({ digest, err: (e as Error).message }, 'release retention could not remove an artefact; the next sweep tries again');
      }
    }
    return out;
  }

  private async removeImages(imageIds: string[], rows: RetentionCandidate[]): Promise<Removed> {
    const out: Removed = { count: 0, bytes: 0, failed: new Set() };
    for (const imageId of imageIds) {
      const row = rows.find((r) => r.imageId === imageId);
      const release = row ? this.deps.store.getRelease(row.id) : null;
      if (!release) continue;
      try {
        const fleet = this.deps.fleets.of(release);
        const r = await fleet.removeImage?.(release.config.environment.runtime, imageId);
        if (!r) continue;
        if (r.deleted) {
          out.count++;
          out.bytes += r.bytes;
        } else if (r.keptBecause) {
          this.deps.log.info({ image: imageId, why: r.keptBecause }, 'release retention removed its tags of an image that stays');
        }
      } catch (e) {
        out.failed.add(imageId);
        this.deps.log.warn({ image: imageId, err: (e as Error).message }, 'release retention could not remove an image; the next sweep tries again');
      }
    }
    return out;
  }

  private isUnderReleases(dir: string): boolean {
    const rel = relative(resolve(this.deps.releasesDir), resolve(dir));
    return rel !== '' && !rel.startsWith('..') && !rel.startsWith('/');
  }
}

/**
 * What the records say is in use: each environment's stable release, both sides
 * (and preview) of a rollout under way, releases running anywhere, and the artefact
 * of each unfinished pipeline run. A sweep adds rollback targets and artefacts held.
 */
function pinsOf(store: StateStore): { pinnedReleases: Set<number>; pinnedArtefacts: Set<string> } {
  const pinnedReleases = new Set<number>();
  for (const env of store.listEnvironmentNames()) {
    const id = store.getStableReleaseId(env);
    if (id !== null) pinnedReleases.add(id);
  }
  for (const r of store.activeRollouts()) for (const id of [r.fromReleaseId, r.toReleaseId, r.preview]) if (id !== null) pinnedReleases.add(id);
  for (const i of store.liveInstances()) pinnedReleases.add(i.releaseId);
  for (const id of store.retention.clusterReleaseIds()) pinnedReleases.add(id);
  const pinnedArtefacts = new Set<string>();
  for (const run of store.pipeline.unfinishedRuns()) if (run.artefactDigest !== null) pinnedArtefacts.add(run.artefactDigest);
  return { pinnedReleases, pinnedArtefacts };
}

/** An image a removal leaves behind, with a release that ran it (its runtime says which fleet removes it). */
export interface OrphanedImage {
  imageId: string;
  release: ReleaseRecord;
}

/**
 * The images of `env`'s releases that no release of another environment keeps, for
 * `slipway remove`, which forgets every release of `env` (so no sweep would ever
 * retire them). A sweep's rule (core/retention-plan.ts): an image stays while any
 * kept release refers to it, kept meaning not retired, or in use. Rollback targets
 * are not read here: a rollback target is never retired, so it is kept anyway. An
 * image whose release a sweep already cleaned is gone and not named. Call it in the
 * transaction that forgets the releases, so what is kept is read as it is then.
 */
export function imagesOrphanedByRemoving(store: StateStore, env: string): OrphanedImage[] {
  const rows = store.retention.releases();
  const { pinnedReleases, pinnedArtefacts } = pinsOf(store);
  const isKept = (r: RetentionCandidate) => r.retiredAt === null || pinnedReleases.has(r.id) || pinnedArtefacts.has(r.artefactDigest);
  const keptElsewhere = new Set(rows.filter((r) => r.env !== env && r.imageId !== null && isKept(r)).map((r) => r.imageId!));
  const out = new Map<string, OrphanedImage>();
  for (const r of rows) {
    if (r.env !== env || r.imageId === null || r.cleanedAt !== null || keptElsewhere.has(r.imageId) || out.has(r.imageId)) continue;
    const release = store.getRelease(r.id);
    if (release) out.set(r.imageId, { imageId: r.imageId, release });
  }
  return [...out.values()];
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Bytes of the files under a directory (symbolic links are not followed). */
function bytesUnder(path: string): number {
  const st = lstatSync(path);
  if (!st.isDirectory()) return st.isFile() ? st.size : 0;
  let total = 0;
  for (const name of readdirSync(path)) total += bytesUnder(join(path, name));
  return total;
}

function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}
