// The engine in-process, on virtual time: a real Engine on a real SQLite file and
// data directory (real artefacts, signatures, config versions), with a FAKE fleet
// (units that "start" after a virtual delay, no process behind them) and a FAKE
// router (keeps the route table it is sent; plays traffic by that table's weights
// into the counters the analysis reads). A ManualClock moves time: a 5-minute
// pause takes no wall time. What only real processes can show (0 failed requests,
// crashes, drains) stays in the end-to-end tests.

import { createReadStream, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packDirectory } from '../../src/artefact/index.ts';
import { parseConfigText } from '../../src/config/index.ts';
import { createHistogram, recordMs } from '../../src/core/latency-histogram.ts';
import type { ReleaseRecord } from '../../src/core/records.ts';
import type { Rollout } from '../../src/core/rollout.ts';
import type { EnvironmentSpec, RuntimeName } from '../../src/core/service-config.ts';
import { Engine } from '../../src/engine/engine.ts';
import type { RouteTable } from '../../src/router/route-table.ts';
import type { RouterStatsJson } from '../../src/router/router-client.ts';
import type { Fleet, FleetBackend, FleetPlacement, ScaleOutcome } from '../../src/core/ports/fleet.ts';
import { openSecrets } from '../../src/security/open-secrets.ts';
import { Redactor } from '../../src/security/redactor.ts';
import { loadOrCreateSigningKey } from '../../src/security/signing-key.ts';
import { dataDirPaths, prepareDataDir } from '../../src/store/data-dir.ts';
import { StateStore } from '../../src/store/state-store.ts';
import { ManualClock } from './manual-clock.ts';

const quiet = { info: () => {}, warn: () => {}, error: () => {} };

/** FAKE fleet: units are counters; a unit is ready `startMs` of virtual time after it is asked for. */
export class FakeFleet implements Fleet {
  readonly runtimes: readonly RuntimeName[] = ['process', 'docker'];
  /** env → release id → ready units. */
  readonly units = new Map<string, Map<number, number>>();
  /** Every scale asked for, in order: "env#number→count". */
  readonly calls: string[] = [];
  /** Release numbers (by env) whose units never become ready. */
  readonly unhealthy = new Set<string>();
  startMs = 2000;

  constructor(private readonly clock: ManualClock) {}

  private of(env: string): Map<number, number> {
    let m = this.units.get(env);
    if (!m) this.units.set(env, (m = new Map()));
    return m;
  }

  async scale(release: ReleaseRecord, count: number, isCancelled: () => boolean): Promise<ScaleOutcome> {
    this.calls.push(`${release.env}#${release.number}→${count}`);
    const units = this.of(release.env);
    const now = units.get(release.id) ?? 0;
    if (count > now) {
      await this.clock.sleep(this.startMs);
      if (isCancelled()) return { ok: false, reason: 'cancelled' };
      if (this.unhealthy.has(`${release.env}#${release.number}`)) {
        return { ok: false, reason: `instance ${release.env}-${release.number} was not healthy within ${this.startMs}ms` };
      }
    }
    units.set(release.id, count);
    return { ok: true };
  }

  async maintain(env: string, stable: ReleaseRecord | null): Promise<ScaleOutcome> {
    if (stable && (this.of(env).get(stable.id) ?? 0) !== stable.config.environment.instances) {
      const outcome = await this.scale(stable, stable.config.environment.instances, () => false);
      if (!outcome.ok) return outcome;
    }
    for (const [id, n] of this.of(env)) if (id !== stable?.id && n > 0) this.of(env).set(id, 0);
    return { ok: true };
  }

  serving(env: string): Record<number, number> {
    return Object.fromEntries([...this.of(env)].filter(([, n]) => n > 0));
  }

  backends(env: string): FleetBackend[] {
    return [...this.of(env)].flatMap(([releaseId, n]) => Array.from({ length: n }, (_, i) => ({ id: `${env}-${releaseId}-${i}`, releaseId, url: `http://127.0.0.1:9/${releaseId}/${i}` })));
  }

  async applyTraffic(): Promise<void> {}
  async sync(_env: string, _r: Rollout | null): Promise<void> {}
  rolloutEnded(): void {}
  async forget(): Promise<void> {}
  replaceRefusal(_s: ReleaseRecord, _n: EnvironmentSpec): string | null {
    return null;
  }
  assertCanRun(): void {}
  async prepareImage(): Promise<string | null> {
    return null;
  }
  async hasImage(): Promise<boolean> {
    return true;
  }
  placement(): FleetPlacement | null {
    return null;
  }
  stop(): void {}
}

/** How one release answers the traffic the fake router plays to it. */
export interface ReleaseBehaviour {
  errorRate: number;
  latencyMs: number;
}

/**
 * FAKE router: keeps the last table, and at each stats read plays `rps` requests a
 * second of virtual time per environment, split by the table's weights, into
 * cumulative counters as the real router keeps them.
 */
export class FakeRouter {
  table: RouteTable = { version: 0, environments: {} };
  readonly tables: RouteTable[] = [];
  rps = 50;
  /** "env#number" → behaviour; default: no errors, 20 ms. */
  readonly behaviour = new Map<string, ReleaseBehaviour>();
  private counters: RouterStatsJson['environments'] = {};
  /** env → the shadow figures the next stats read reports (set by a test, as the real router counts them). */
  readonly shadow: NonNullable<RouterStatsJson['shadow']> = {};
  /** Fractions of a request (and of an error) carried to the next read, so low rates are played exactly. */
  private readonly carry = new Map<string, { requests: number; errors: number }>();
  private playedTo: number;

  constructor(private readonly clock: ManualClock) {
    this.playedTo = clock.now();
  }

  async putRoutes(t: RouteTable) {
    this.table = t;
    this.tables.push(t);
    return { version: t.version, listeners: Object.fromEntries(Object.keys(t.environments).map((e) => [e, { listening: true }])) };
  }

  async getRoutes(): Promise<RouteTable> {
    return this.table;
  }

  async waitDrained() {
    return { drained: true, inflight: 0 };
  }

  async getStats(): Promise<RouterStatsJson> {
    this.play();
    return { startedAt: new Date(0).toISOString(), environments: structuredClone(this.counters), unrouted: {}, refused: {}, backends: {}, shadow: structuredClone(this.shadow) } as unknown as RouterStatsJson;
  }

  /** Share of each release (by number) the table sends an environment's requests to now. */
  weights(env: string): Record<string, number> {
    return this.table.environments[env]?.weights ?? {};
  }

  private play(): void {
    const now = this.clock.now();
    const seconds = (now - this.playedTo) / 1000;
    this.playedTo = now;
    if (seconds <= 0) return;
    for (const [env, routes] of Object.entries(this.table.environments)) {
      for (const [release, weight] of Object.entries(routes.weights)) {
        const b = this.behaviour.get(`${env}#${release}`) ?? { errorRate: 0, latencyMs: 20 };
        const carry = this.carry.get(`${env}#${release}`) ?? { requests: 0, errors: 0 };
        this.carry.set(`${env}#${release}`, carry);
        carry.requests += (this.rps * seconds * weight) / 100;
        const n = Math.floor(carry.requests);
        carry.requests -= n;
        if (n === 0) continue;
        const c = ((this.counters[env] ??= {})[release] ??= {
          requests: 0, status: { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 }, upstreamErrors: 0, timeouts: 0, retried: 0, latency: createHistogram(),
        } as never) as { requests: number; status: Record<string, number>; latency: ReturnType<typeof createHistogram> };
        carry.errors += n * b.errorRate;
        const errors = Math.floor(carry.errors);
        carry.errors -= errors;
        c.requests += n;
        c.status['5xx']! += errors;
        c.status['2xx']! += n - errors;
        for (let i = 0; i < n; i++) recordMs(c.latency, b.latencyMs);
      }
    }
  }
}

export interface EngineHarness {
  engine: Engine;
  store: StateStore;
  clock: ManualClock;
  fleet: FakeFleet;
  router: FakeRouter;
  /** Deploys `yaml` (the whole slipway.yaml) with an artefact whose content is `version`. */
  deploy(env: string, yaml: string, version: string, actor?: string): ReturnType<Engine['deploy']>;
  /** The environment's rollout as recorded now (the latest, finished or not). */
  rollout(env: string): Rollout;
  /** Advances virtual time until the environment has no rollout under way. */
  settleRollout(env: string, maxMs?: number): Promise<Rollout>;
  /**
   * Stops this engine and starts another on the same data directory, fleet and
   * router, as a restarted server would find them (instances and the router
   * outlive the server). `engine` is the new one afterwards.
   */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function engineHarness(): Promise<EngineHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-engine-'));
  const paths = dataDirPaths(join(dir, 'data'));
  prepareDataDir(paths, { onNotice: () => undefined });
  const store = new StateStore(paths.stateDb);
  const clock = new ManualClock();
  const redactor = new Redactor();
  const opened = await openSecrets({ configs: store.configs, dataDir: paths.root, keyFile: paths.masterKey, env: {}, redactor });
  const signing = loadOrCreateSigningKey(paths.signingKey);
  const fleet = new FakeFleet(clock);
  const router = new FakeRouter(clock);
  const makeEngine = () => new Engine({
    store, runtimes: {}, router, paths, log: quiet, secrets: opened.secrets, signingKey: signing.key, clock, fleets: [fleet],
    probeListen: async () => ({ free: true }),
    resolveHost: async () => ['127.0.0.1'],
  });
  let engine = makeEngine();
  await engine.start();
  const stop = async (e: Engine) => {
    const stopping = e.stop();
    // The reconciler's grace and any fake start in flight run on virtual time.
    await clock.advance(10_000);
    await stopping;
  };
  let n = 0;
  const rollout = (env: string) => {
    const r = store.activeRollout(env) ?? store.listRollouts(env, 1)[0];
    if (!r) throw new Error(`${env} has no rollout`);
    return r;
  };
  const h: EngineHarness = {
    engine, store, clock, fleet, router,
    async deploy(env, yaml, version, actor = 'tester') {
      const src = join(dir, `src-${++n}`);
      mkdirSync(src, { recursive: true });
      writeFileSync(join(src, 'server.js'), `// ${version}\n`);
      writeFileSync(join(src, 'slipway.yaml'), yaml);
      const config = parseConfigText(yaml, join(src, 'slipway.yaml'));
      const packed = await packDirectory({ dir: src, outFile: join(dir, `a-${n}.tar.gz`) });
      await h.engine.receiveArtefact(createReadStream(packed.file), packed.digest, config.service, actor);
      return h.engine.deploy({ env, artefactDigest: packed.digest, config, actor });
    },
    rollout,
    async settleRollout(env, maxMs = 30 * 60_000) {
      await clock.until(`${env}'s rollout to finish`, () => store.activeRollout(env) === null, { maxMs });
      return rollout(env);
    },
    async restart() {
      await stop(engine);
      engine = makeEngine();
      h.engine = engine;
      await engine.start();
    },
    async close() {
      await stop(engine);
    },
  };
  return h;
}
