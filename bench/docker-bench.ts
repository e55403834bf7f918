// What the Docker runtime costs on this machine: making the test base image
// (docker import of node and its libraries), building the example service's image
// from its artefact (first time, and again: cached), and, per container, start()
// until it answers /healthz, and stop() with its log flushed and the container
// removed. Figures only, no pass/fail.
//
//   node --import tsx bench/docker-bench.ts [--runs 5]

import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { packDirectory } from '../src/artefact/index.ts';
import { appendMaskedLog } from '../src/observe/append-masked-log.ts';
import { probeHealth } from '../src/engine/health-probe.ts';
import { DockerRuntime } from '../src/runtime/docker/docker-runtime.ts';
import { docker, dockerIsAvailable, ensureNodeImage, helloDockerfile, removeContainersOf } from '../test/support/docker.ts';
import { EXAMPLE, freePort } from '../test/support/harness.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const runs = Number(values.runs);

if (!(await dockerIsAvailable())) process.exit(1);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (t0: number) => Math.round(performance.now() - t0);

// The base image, made fresh under a tag of its own (the tests' one may be in use), removed at the end.
const fresh = await ensureNodeImage({ tag: `slipway-bench/node:${Date.now()}` });
console.log(`base image (node ${process.version} + libraries, docker import): ${fresh.buildMs} ms`);

const app = mkdtempSync(join(tmpdir(), 'slipway-docker-bench-'));
cpSync(EXAMPLE, app, { recursive: true });
writeFileSync(join(app, 'Dockerfile'), helloDockerfile(fresh.tag));
writeFileSync(join(app, 'bench-marker.txt'), `${Date.now()}\n`); // a new artefact: no cached build
const packed = await packDirectory({ dir: app });
const dataDir = join(app, '.data');
const runtime = new DockerRuntime({ dataDir, writeLog: appendMaskedLog });
const req = { service: 'hello', env: 'bench', image: { dockerfile: 'Dockerfile', ref: null } as const, artefactPath: packed.file, artefactDigest: packed.digest };
let t0 = performance.now();
const image = await runtime.prepareImage(req);
console.log(`service image from its artefact (${packed.bytes} bytes, FROM base + COPY): ${ms(t0)} ms`);
t0 = performance.now();
await runtime.prepareImage(req);
console.log(`same artefact again (found, not rebuilt): ${ms(t0)} ms`);

const startMs: number[] = [];
const healthyMs: number[] = [];
const stopMs: number[] = [];
try {
  for (let i = 0; i < runs; i++) {
    const port = await freePort();
    const id = `bench-1-${String(i).padStart(6, '0')}`;
    t0 = performance.now();
    const handle = await runtime.start({
      instanceId: id, releaseDir: app, argv: ['node', 'server.js'], env: { PORT: String(port) }, port,
      logPath: join(dataDir, 'logs', `${id}.log`), redact: [], owner: { service: 'hello', env: 'bench', release: 1 }, image, resources: null,
    });
    startMs.push(ms(t0));
    while (!(await probeHealth({ port, path: '/healthz', timeoutMs: 1000 })).ok) await new Promise((r) => setTimeout(r, 20));
    healthyMs.push(ms(t0));
    t0 = performance.now();
    await runtime.stop(handle, { killTimeoutMs: 5000 });
    stopMs.push(ms(t0));
  }
} finally {
  await runtime.close();
  await removeContainersOf(dataDir);
  await docker.getImage(image).remove({ force: true }).catch(() => undefined);
  await docker.getImage(fresh.tag).remove({ force: true }).catch(() => undefined);
}
console.log(`per container, median of ${runs}: start() ${median(startMs)} ms, answering /healthz ${median(healthyMs)} ms after start() was called, stop() ${median(stopMs)} ms (graceful exit, log flushed, removed)`);
console.log(`  start() ${JSON.stringify(startMs)}; healthy ${JSON.stringify(healthyMs)}; stop() ${JSON.stringify(stopMs)}`);
