// The contract every fleet (src/core/ports/fleet.ts) keeps, as one suite each fleet
// runs against the real thing it drives: the instance fleet over real processes and
// real containers, the cluster fleet against the FAKE Kubernetes API server. It
// asserts what the engine relies on, as a user of the engine would notice it: after
// a scale, that many units run and answer; after a scale down, the others are gone;
// a release that never gets ready fails the scale with the reason, in time; a
// cancelled scale stops early; maintenance restores the stable release and stops
// the rest; a scale to the current count starts nothing.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReleaseRecord } from '../../src/core/records.ts';
import type { Fleet, FleetBackend } from '../../src/core/ports/fleet.ts';
import { waitFor } from './harness.ts';

/**
 * How a release's units behave: `ready` answers its health check soon after it
 * starts; `crash` never gets ready (its process exits at once, its pods crash-loop);
 * `slow` would answer only long after a scale is cancelled (SLOW_READY_MS).
 */
export type UnitBehaviour = 'ready' | 'crash' | 'slow';

/** A `slow` release's units take at least this long to get ready. */
export const SLOW_READY_MS = 10_000;

/**
 * Where the router sends a release's traffic:
 * - `unit`: to each ready unit; every backend answers the health endpoint over HTTP;
 * - `service`: to one address per release that spreads it over its units (a
 *   cluster's Service), which the test cannot reach (the fake's pods run nothing);
 * - `none`: nowhere, something else splits the traffic (a cluster's Gateway).
 */
export type BackendShape = { per: 'unit' } | { per: 'service'; url(release: ReleaseRecord): string } | { per: 'none' };

export interface FleetSubject {
  fleet: Fleet;
  backends: BackendShape;
  /** The health endpoint of every release this subject records. */
  healthPath: string;
  /** The start deadline of every release this subject records. */
  startDeadlineMs: number;
  /** The reason of a scale of a `crash` release names why, as this fleet sees it. */
  crashReason: RegExp;
  /** Records a release of `env` with `instances` units (not started). */
  release(o: { env: string; instances: number; behaviour: UnitBehaviour }): Promise<ReleaseRecord>;
  /** Records `release` as its environment's stable release (as a finished rollout leaves it). */
  makeStable(release: ReleaseRecord): void;
  /** Records the environment as taken down: no stable release any more. */
  takeDown(env: string): void;
  /**
   * Ids of `release`'s units that exist on the platform now, whatever the fleet's
   * records say: processes alive, containers running, pods not yet gone.
   */
  units(release: ReleaseRecord): Promise<string[]>;
  /**
   * How many units the platform itself is told to keep for `release` (a
   * Deployment's replicas); null where nothing but the fleet starts units.
   */
  desired(release: ReleaseRecord): number | null;
  /** Ends one unit of `release` as a crash would (kill -9, a deleted pod); returns its id. */
  loseUnit(release: ReleaseRecord): Promise<string>;
  /**
   * Whether, after `loseUnit`, the units of this platform come back within the test.
   * false only where the platform replaces a lost unit by itself and its stand-in
   * here does not (the fake's Deployment controller ignores a deleted pod).
   */
  replacesLostUnits: boolean;
  close(): Promise<void>;
}

/** Every backend of `release` answers its health endpoint with 200. */
async function assertBackendsAnswer(backends: FleetBackend[], path: string): Promise<void> {
  for (const b of backends) {
    const res = await fetch(new URL(path, b.url), { signal: AbortSignal.timeout(2000) });
    expect(res.status, `${b.id} at ${b.url}${path}`).toBe(200);
  }
}

/** The checks of the contract a fleet may be known to fail (see ContractOptions.knownBugs). */
export type ContractCheck = 'scale-up' | 'scale-down' | 'same-count' | 'never-ready' | 'cancel' | 'lost-unit' | 'others-stop' | 'down';

export interface ContractOptions {
  /**
   * Checks this fleet fails today, each with its bug. They run as expected failures
   * (it.fails): the suite says the bug is there without failing every run, and fails
   * the day the bug is fixed, so that its entry here goes with the fix.
   */
  knownBugs?: Partial<Record<ContractCheck, string>>;
}

export function fleetContract(name: string, setup: () => Promise<FleetSubject>, opts: ContractOptions = {}): void {
  const check = (key: ContractCheck, title: string, fn: () => Promise<void>) => {
    const bug = opts.knownBugs?.[key];
    if (bug) it.fails(`${title} [fails today, known bug: ${bug}]`, fn);
    else it(title, fn);
  };

  describe(`fleet contract: ${name}`, () => {
    let s: FleetSubject;
    const never = () => false;
    const servingOf = (r: ReleaseRecord) => s.fleet.serving(r.env)[r.id] ?? 0;

    beforeAll(async () => {
      s = await setup();
    });

    afterAll(async () => {
      await s?.close();
    });

    describe('scaling one release up, down, and to where it is', () => {
      // Each step goes on from the one before: a release scaled up, then down, then to where it is.
      let release: ReleaseRecord;
      const scaledUp = () => expect(release, 'the scale from 0 to 3 first').toBeDefined();

      check('scale-up', 'scales from 0 to 3: resolves once 3 units are ready, all serving, each a backend that answers', async () => {
        release = await s.release({ env: 'scale', instances: 3, behaviour: 'ready' });
        s.makeStable(release);
        expect(await s.fleet.scale(release, 3, never)).toEqual({ ok: true });
        expect(s.fleet.serving('scale')).toEqual({ [release.id]: 3 });
        expect(await s.units(release)).toHaveLength(3);
        const backends = s.fleet.backends('scale', release);
        switch (s.backends.per) {
          case 'unit':
            expect(backends?.filter((b) => b.releaseId === release.id)).toHaveLength(3);
            await assertBackendsAnswer(backends!, s.healthPath);
            break;
          case 'service':
            // One backend, the release's Service: nothing behind it answers here, so only where it points is checked.
            expect(backends).toEqual([{ id: new URL(s.backends.url(release)).hostname, releaseId: release.id, url: s.backends.url(release) }]);
            break;
          case 'none':
            expect(backends).toBeNull();
            break;
        }
        if (s.desired(release) !== null) expect(s.desired(release)).toBe(3);
      });

      check('scale-down', 'scales down to 1: 1 serves, and the 2 that left are stopped by the time the scale resolves', async () => {
        scaledUp();
        const before = await s.units(release);
        expect(await s.fleet.scale(release, 1, never)).toEqual({ ok: true });
        expect(s.fleet.serving('scale')).toEqual({ [release.id]: 1 });
        const kept = await s.units(release);
        expect(kept).toHaveLength(1);
        expect(before).toContain(kept[0]);
        if (s.desired(release) !== null) expect(s.desired(release)).toBe(1);
        if (s.backends.per === 'unit') {
          const backends = s.fleet.backends('scale', release)!;
          expect(backends).toHaveLength(1);
          await assertBackendsAnswer(backends, s.healthPath);
        }
      });

      check('same-count', 'scaling to the current count changes nothing: no unit starts or stops', async () => {
        scaledUp();
        // From a settled state, whatever the step before left behind.
        await waitFor('1 unit left of the release', async () => (await s.units(release)).length === 1, 10_000);
        const before = await s.units(release);
        expect(await s.fleet.scale(release, 1, never)).toEqual({ ok: true });
        expect(await s.units(release)).toEqual(before);
        expect(s.fleet.serving('scale')).toEqual({ [release.id]: 1 });
      });
    });

    check('never-ready', 'a release whose units never get ready fails its scale with the reason, within the start deadline, and serves nothing', async () => {
      const release = await s.release({ env: 'broken', instances: 2, behaviour: 'crash' });
      s.makeStable(release);
      const t0 = performance.now();
      const outcome = await s.fleet.scale(release, 2, never);
      const tookMs = performance.now() - t0;
      expect(outcome.ok).toBe(false);
      expect(outcome.ok === false && outcome.reason).toMatch(s.crashReason);
      expect(tookMs).toBeLessThan(s.startDeadlineMs);
      expect(servingOf(release)).toBe(0);
      expect(s.fleet.backends('broken', release)?.filter((b) => b.releaseId === release.id) ?? []).toEqual([]);
    });

    check('cancel', 'a scale stops early once isCancelled says so, with nothing of the release serving', async () => {
      const release = await s.release({ env: 'cancel', instances: 1, behaviour: 'slow' });
      s.makeStable(release);
      const t0 = performance.now();
      const outcome = await s.fleet.scale(release, 1, () => performance.now() - t0 > 300);
      const tookMs = performance.now() - t0;
      expect(outcome.ok).toBe(false);
      // Its unit could not have been ready before SLOW_READY_MS: resolving well before it is stopping early.
      expect(tookMs).toBeLessThan(SLOW_READY_MS - 4000);
      expect(servingOf(release)).toBe(0);
    });

    check('lost-unit', 'maintain brings the stable release back to its size after one of its units is lost', async () => {
      const stable = await s.release({ env: 'lost', instances: 2, behaviour: 'ready' });
      s.makeStable(stable);
      expect(await s.fleet.scale(stable, 2, never)).toEqual({ ok: true });
      const lost = await s.loseUnit(stable);
      expect(await s.fleet.maintain('lost', stable)).toEqual({ ok: true });
      expect(s.fleet.serving('lost')).toEqual({ [stable.id]: 2 });
      if (s.desired(stable) !== null) expect(s.desired(stable)).toBe(2);
      if (s.replacesLostUnits) {
        const units = await s.units(stable);
        expect(units).toHaveLength(2);
        expect(units).not.toContain(lost);
      } else {
        // The platform replaces the unit (a Deployment controller does); its stand-in
        // here does not. What the fleet owns is checked above: it still asks for 2.
        console.warn(`fleet contract (${name}): the lost unit's replacement is the platform's; not observable here`);
      }
      if (s.backends.per === 'unit') await assertBackendsAnswer(s.fleet.backends('lost', stable)!, s.healthPath);
    });

    check('others-stop', 'maintain stops every unit of a release that is not the stable one', async () => {
      const stable = await s.release({ env: 'others', instances: 1, behaviour: 'ready' });
      s.makeStable(stable);
      expect(await s.fleet.scale(stable, 1, never)).toEqual({ ok: true });
      const other = await s.release({ env: 'others', instances: 1, behaviour: 'ready' });
      expect(await s.fleet.scale(other, 1, never)).toEqual({ ok: true });
      expect(s.fleet.serving('others')).toEqual({ [stable.id]: 1, [other.id]: 1 });
      expect(await s.fleet.maintain('others', stable)).toEqual({ ok: true });
      expect(s.fleet.serving('others')).toEqual({ [stable.id]: 1 });
      // Stopped by the time maintain resolves: the engine takes the environment as settled then.
      expect(await s.units(other)).toEqual([]);
      expect(await s.units(stable)).toHaveLength(1);
      if (s.desired(other) !== null) expect(s.desired(other)).toBe(0);
    });

    check('down', 'maintain with no stable release (`slipway down`) stops every unit of every release of the environment', async () => {
      const one = await s.release({ env: 'down', instances: 1, behaviour: 'ready' });
      s.makeStable(one);
      expect(await s.fleet.scale(one, 1, never)).toEqual({ ok: true });
      const two = await s.release({ env: 'down', instances: 2, behaviour: 'ready' });
      s.makeStable(two);
      expect(await s.fleet.scale(two, 2, never)).toEqual({ ok: true });
      expect(s.fleet.serving('down')).toEqual({ [one.id]: 1, [two.id]: 2 });
      s.takeDown('down');
      expect(await s.fleet.maintain('down', null)).toEqual({ ok: true });
      expect(s.fleet.serving('down')).toEqual({});
      expect(await s.units(one)).toEqual([]);
      expect(await s.units(two)).toEqual([]);
      if (s.desired(two) !== null) expect(s.desired(two)).toBe(0);
      // Asked again (a restarted server), it changes nothing and still says so.
      expect(await s.fleet.maintain('down', null)).toEqual({ ok: true });
    });
  });
}
