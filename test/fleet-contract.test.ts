// Every fleet keeps the fleet contract (support/fleet-contract.ts): the instance
// fleet over real local processes and over a real Docker engine (skipped, loudly,
// only without an engine outside CI), and the cluster fleet against the FAKE
// Kubernetes API server (support/fake-kube-api.ts; no real cluster can run here),
// once per way of splitting traffic. Releases are real records in a StateStore on a
// temp SQLite file, with real directories holding the example service.

import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { describe, it } from 'vitest';
import { packDirectory } from '../src/artefact/index.ts';
import { parseConfigText } from '../src/config/index.ts';
import { systemClock } from '../src/core/clock.ts';
import type { ReleaseConfig, ReleaseRecord } from '../src/core/records.ts';
import { FleetSet } from '../src/engine/fleet-set.ts';
import { InstanceFleet } from '../src/engine/instance-fleet.ts';
import { handleOf, runtimeOf } from '../src/engine/instance-lifecycle.ts';
import type { TrafficRouter } from '../src/engine/ports.ts';
import { RouteSync } from '../src/engine/route-sync.ts';
import { clusterRecordsOf } from '../src/engine/cluster-records.ts';
import type { RuntimeSet } from '../src/engine/runtime-set.ts';
import { appendMaskedLog } from '../src/observe/append-masked-log.ts';
import { prepareLogRelay } from '../src/observe/log-relay.ts';
import type { RouteTable } from '../src/router/route-table.ts';
import type { RouterStatsJson } from '../src/router/router-client.ts';
import { DockerRuntime } from '../src/runtime/docker/docker-runtime.ts';
import { KubeCluster } from '../src/runtime/kubernetes/cluster-client.ts';
import { ClusterFleet } from '../src/runtime/kubernetes/cluster-fleet.ts';
import { releaseServiceUrl } from '../src/runtime/kubernetes/manifests.ts';
import { LABELS, releaseName } from '../src/runtime/kubernetes/names.ts';
import { ProcessRuntime } from '../src/runtime/process/process-runtime.ts';
import { dataDirPaths, prepareDataDir, type DataDirPaths } from '../src/store/data-dir.ts';
import { StateStore } from '../src/store/state-store.ts';
import { TeardownStore } from '../src/store/teardown-store.ts';
import { docker, dockerIsAvailable, ensureNodeImage, helloDockerfile, removeContainersOf } from './support/docker.ts';
import { FakeKubeApi } from './support/fake-kube-api.ts';
import { fleetContract, SLOW_READY_MS, type FleetSubject, type UnitBehaviour } from './support/fleet-contract.ts';
import { EXAMPLE, freePort, waitFor } from './support/harness.ts';

const quiet = { info: () => {}, warn: () => {}, error: () => {} };
const START_DEADLINE_MS = 10_000;
const HEALTH_PATH = '/healthz';
const NS = 'contract';
/** Artefact digest of releases whose artefact no one reads (processes run the directory; pods an image by name). */
const NO_ARTEFACT = `sha256:${'0'.repeat(64)}`;

/** FAKE router: keeps the table it is sent, and says a backend has drained at once. The router itself is tested in src/router. */
class TableKeepingRouter implements TrafficRouter {
  table: RouteTable = { version: 0, environments: {} };
  async putRoutes(t: RouteTable) {
    this.table = t;
    return { version: t.version, listeners: {} };
  }
  async waitDrained() {
    return { drained: true, inflight: 0 };
  }
  async getStats(): Promise<RouterStatsJson> {
    throw new Error('the fleet contract reads no router stats');
  }
  async getRoutes(): Promise<RouteTable> {
    return this.table;
  }
}

/** The environment's section of slipway.yaml for one runtime (indented under the environment). */
type RuntimeYaml = (o: { behaviour: UnitBehaviour }) => string;

/**
 * Releases of the example service recorded as the engine records them: the config
 * parsed from a whole slipway.yaml, each environment with a directory of its own
 * holding the service.
 */
class ReleaseBook {
  readonly store: StateStore;
  private readonly ports = new Map<string, number>();

  constructor(private readonly o: { paths: DataDirPaths; appDir: string; runtimeYaml: RuntimeYaml; artefactDigest: string; imageId: string | null }) {
    this.store = new StateStore(o.paths.stateDb);
    // A release names a stored artefact (a foreign key): the one the service directory would be packed into.
    this.store.putArtefact({ digest: o.artefactDigest, service: 'hello', bytes: 0, path: join(o.paths.artefacts, 'hello.tar.gz'), createdAt: Date.now() });
  }

  async record(r: { env: string; instances: number; behaviour: UnitBehaviour }): Promise<ReleaseRecord> {
    const port = this.ports.get(r.env) ?? (await freePort());
    this.ports.set(r.env, port);
    const knobs = { ready: {}, crash: { CRASH_ON_START: '1' }, slow: { START_DELAY_MS: String(SLOW_READY_MS) } }[r.behaviour];
    const yaml = [
      'service: hello',
      'run: { command: node server.js }',
      `health: { path: ${HEALTH_PATH}, interval: 200ms, timeout: 1s, healthy_threshold: 1, start_deadline: ${START_DEADLINE_MS / 1000}s }`,
      'shutdown: { drain_timeout: 1s, kill_timeout: 2s }',
      'environments:',
      `  ${r.env}:`,
      `    instances: ${r.instances}`,
      `    listen: 127.0.0.1:${port}`,
      '    strategy: { type: rolling, batch: 1 }',
      `    config: ${JSON.stringify(knobs)}`,
      ...this.o.runtimeYaml({ behaviour: r.behaviour }).split('\n').map((l) => `    ${l}`),
    ].join('\n');
    const { environments, ...service } = parseConfigText(yaml, 'slipway.yaml');
    const config: ReleaseConfig = { ...service, environment: environments[r.env]!, configVersion: null, overrides: {}, secrets: {} };
    // As the engine lays it out: releases/<env>/<release>, the environment's own directory above it.
    const dir = join(this.o.paths.releases, r.env, `r${this.store.listReleases(r.env, 1000).length + 1}`);
    cpSync(this.o.appDir, dir, { recursive: true });
    this.store.ensureEnvironment(r.env);
    return this.store.insertRelease({
      env: r.env, service: 'hello', artefactDigest: this.o.artefactDigest, config, configHash: `contract-${r.behaviour}`, dir,
      imageId: this.o.imageId, createdAt: Date.now(), createdBy: 'fleet-contract',
    });
  }

  makeStable(release: ReleaseRecord): void {
    this.store.setStableRelease(release.env, release.id);
  }

  /** As `slipway down` records it: no stable release, and the mark. */
  takeDown(env: string): void {
    new TeardownStore(this.store.db).markDown(env, { at: Date.now(), by: 'fleet-contract', release: null });
  }
}

/**
 * A data directory laid out and made private as a server makes it (as root, its
 * instances run as users of their own, who must be able to pass through to their
 * release directories), beside a copy of the example service's two files (and,
 * given a base image, a Dockerfile on it).
 */
function scratchData(prefix: string, baseTag: string | null = null): { paths: DataDirPaths; appDir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const paths = dataDirPaths(join(dir, 'data'));
  prepareDataDir(paths, { onNotice: () => {} });
  const appDir = join(dir, 'app');
  mkdirSync(appDir);
  for (const f of ['server.js', 'package.json']) cpSync(join(EXAMPLE, f), join(appDir, f));
  if (baseTag) writeFileSync(join(appDir, 'Dockerfile'), helloDockerfile(baseTag));
  return { paths, appDir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The instance fleet over one runtime, wired as engine.ts wires it, with the real route sync into a fake router. */
async function instanceSubject(o: {
  paths: DataDirPaths; appDir: string; remove(): void; runtimes: RuntimeSet; runtimeYaml: RuntimeYaml;
  image?: () => Promise<{ imageId: string; artefactDigest: string }>;
  kill(handle: { pid: number; ref: string | null }): Promise<void>;
  cleanup(): Promise<void>;
}): Promise<FleetSubject> {
  const router = new TableKeepingRouter();
  let routes: RouteSync | null = null;
  const deps = { runtimes: o.runtimes };
  const image = o.image ? await o.image() : { imageId: null, artefactDigest: NO_ARTEFACT };
  const book = new ReleaseBook({ paths: o.paths, appDir: o.appDir, runtimeYaml: o.runtimeYaml, ...image });
  const { store } = book;
  const fleet = new InstanceFleet({
    store, runtimes: o.runtimes, router, routes: { push: () => routes!.push() }, clock: systemClock, log: quiet, logsDir: o.paths.logs,
    watchingSince: Date.now(),
    // The release directories are laid out by ReleaseBook already: nothing to unpack.
    ensureReleaseDir: async () => {},
    resolveSecrets: async () => ({}),
    onInstanceEvent: () => {},
  });
  routes = new RouteSync(store, new FleetSet([fleet]), router, quiet);
  const alive = async (release: ReleaseRecord) => {
    const ids: string[] = [];
    for (const i of store.recentInstances(release.env, 1000).filter((x) => x.releaseId === release.id)) {
      const handle = handleOf(i);
      if (handle && (await runtimeOf(deps, i).isRunning(handle))) ids.push(i.id);
    }
    return ids.sort();
  };
  return {
    fleet, backends: { per: 'unit' }, healthPath: HEALTH_PATH, startDeadlineMs: START_DEADLINE_MS,
    crashReason: /exited before it became healthy[\s\S]*CRASH_ON_START=1/,
    release: (r) => book.record(r),
    makeStable: (r) => book.makeStable(r),
    takeDown: (env) => book.takeDown(env),
    units: alive,
    desired: () => null,
    async loseUnit(release) {
      const victim = store.liveInstances(release.env).find((i) => i.releaseId === release.id && i.state === 'ready');
      if (!victim) throw new Error(`no ready instance of ${release.env}#${release.number} to lose`);
      await o.kill({ pid: victim.pid ?? 0, ref: victim.runtimeRef });
      await waitFor(`${victim.id} to be gone`, async () => !(await alive(release)).includes(victim.id), 10_000);
      return victim.id;
    },
    replacesLostUnits: true,
    async close() {
      await Promise.all(store.listEnvironmentNames().map((env) => fleet.stopAll(env)));
      await o.cleanup();
      store.close();
      o.remove();
    },
  };
}

fleetContract('instances as local processes', async () => {
  const { paths, appDir, remove } = scratchData('slipway-fleet-process-');
  // As server.ts wires it: the log relay bundled once, so each relay boots as bare node.
  const runtime = new ProcessRuntime({ logRelay: await prepareLogRelay(paths.bin, () => {}) });
  return instanceSubject({
    paths, appDir, remove, runtimes: { process: runtime }, runtimeYaml: () => 'runtime: process',
    kill: async ({ pid }) => void process.kill(pid, 'SIGKILL'),
    cleanup: async () => {},
  });
});

const dockerAvailable = await dockerIsAvailable();
if (dockerAvailable) {
  fleetContract('instances in Docker containers', async () => {
    const base = await ensureNodeImage();
    const { paths, appDir, remove } = scratchData('slipway-fleet-docker-', base.tag);
    const runtime = new DockerRuntime({ dataDir: paths.root, writeLog: appendMaskedLog });
    return instanceSubject({
      paths, appDir, remove, runtimes: { docker: runtime }, runtimeYaml: () => 'runtime: docker',
      // Built by the runtime from the artefact's Dockerfile, as a deploy builds it; the same artefact reuses its image.
      image: async () => {
        const packed = await packDirectory({ dir: appDir, outFile: join(paths.artefacts, 'hello.tar.gz') });
        const imageId = await runtime.prepareImage({ service: 'hello', env: 'contract', image: { dockerfile: 'Dockerfile', ref: null }, artefactPath: packed.file, artefactDigest: packed.digest });
        return { imageId, artefactDigest: packed.digest };
      },
      kill: async ({ ref }) => void (await docker.getContainer(ref!).kill({ signal: 'SIGKILL' })),
      cleanup: async () => {
        await runtime.close();
        await removeContainersOf(paths.root);
      },
    });
  });
} else {
  describe.skip('fleet contract: instances in Docker containers', () => {
    it('needs a Docker engine: none answers here, and CI is not set (see the warning above)', () => {});
  });
}

/** The cluster fleet against the FAKE API server, its records in the store as engine.ts wires them. */
async function clusterSubject(traffic: 'router' | 'gateway'): Promise<FleetSubject> {
  // Crash-looping pods fail a scale after 2 restarts: 2 × 60 ms here. A pod takes
  // 500 ms to go once deleted, as a real one drains first.
  const fake = new FakeKubeApi({ readyDelayMs: 40, terminateDelayMs: 500, restartEveryMs: 60, crashImage: /:crash$/ });
  const url = await fake.start();
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server: url, skipTLSVerify: true }],
    users: [{ name: 'slipway', token: fake.token }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'slipway' }],
    currentContext: 'fake',
  });
  const api = new KubeCluster(kc);
  const { paths, appDir, remove } = scratchData('slipway-fleet-cluster-');
  const book = new ReleaseBook({
    paths, appDir, artefactDigest: NO_ARTEFACT, imageId: null,
    runtimeYaml: ({ behaviour }) => {
      // The fake makes a pod Ready after its delay at the time the pod is made, and
      // the contract scales a release right after recording it: a slow release's pods are slow.
      fake.setReadyDelay(behaviour === 'slow' ? SLOW_READY_MS + 5000 : 40);
      return [
        'runtime: kubernetes',
        'kubernetes:',
        '  context: fake',
        `  namespace: ${NS}`,
        `  image: registry.example.test/hello:${behaviour === 'crash' ? 'crash' : 'r{release}'}`,
        `  traffic: ${traffic}`,
        ...(traffic === 'gateway' ? ['  gateway: infra/public'] : []),
      ].join('\n');
    },
  });
  const { store } = book;
  let fleets: FleetSet | null = null;
  const fleet = new ClusterFleet({
    records: clusterRecordsOf(store, () => fleets!),
    clock: systemClock, log: quiet,
    clusterFor: (context) => {
      if (context !== 'fake') throw new Error(`asked for the cluster of context ${context}; the releases name "fake"`);
      return api;
    },
    resolveSecrets: async () => ({}),
    onEvent: () => {},
    onCrash: () => {},
  });
  fleets = new FleetSet([fleet]);
  const ref = (r: ReleaseRecord) => ({ service: r.service, environment: r.env });
  const pods = (r: ReleaseRecord) => fake.objects('Pod', NS).filter((p) => p.metadata.labels[LABELS.environment] === r.env && p.metadata.labels[LABELS.release] === String(r.number));
  return {
    fleet,
    backends: traffic === 'router' ? { per: 'service', url: (r) => releaseServiceUrl(ref(r), NS, r.number) } : { per: 'none' },
    healthPath: HEALTH_PATH, startDeadlineMs: START_DEADLINE_MS,
    crashReason: /restarted \d+ times \(CrashLoopBackOff\)/,
    release: (r) => book.record(r),
    makeStable: (r) => book.makeStable(r),
    takeDown: (env) => book.takeDown(env),
    // A pod being deleted still runs (it drains): it counts until the fake removes it.
    units: async (r) => pods(r).map((p) => p.metadata.name as string).sort(),
    desired: (r) => fake.object('Deployment', NS, releaseName(ref(r), r.number))?.spec.replicas ?? 0,
    async loseUnit(r) {
      const victim = pods(r).find((p) => !p.metadata.deletionTimestamp);
      if (!victim) throw new Error(`no pod of ${r.env}#${r.number} to lose`);
      await api.delete({ apiVersion: 'v1', kind: 'Pod', namespace: NS, name: victim.metadata.name });
      return victim.metadata.name as string;
    },
    // A real cluster's Deployment controller replaces a deleted pod; the fake's does not.
    replacesLostUnits: false,
    async close() {
      fleet.stop();
      await fake.close();
      store.close();
      remove();
    },
  };
}

// Found by this contract: a scale down resolves while the pods that leave still run
// (they take 500 ms to terminate here). waitForPods evaluates on every event of its
// watch, the opening list of ADDED events included, so with direction 'down' the
// first pod listed makes "pods <= want" true. Remove the entry with the fix.
fleetContract('pods on a cluster (FAKE API server), traffic: router', () => clusterSubject('router'));
fleetContract('pods on a cluster (FAKE API server), traffic: gateway', () => clusterSubject('gateway'));
