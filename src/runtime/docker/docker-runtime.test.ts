// The Docker driver against a real engine: what a container gets (labels, port on
// 127.0.0.1 only, limits, env), its log masked into the instance's log file, its
// CPU and memory, a stop, and the three failures it must name plainly. Skips (loudly)
// without an engine outside CI; fails without one in CI.

import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { Parser as TarParser, type ReadEntry } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendMaskedLog } from '../../observe/append-masked-log.ts';
import { docker, dockerIsAvailable, ensureNodeImage, removeContainersOf } from '../../../test/support/docker.ts';
import { freePort, waitFor } from '../../../test/support/harness.ts';
import { runtimeContract } from '../../../test/support/runtime-contract.ts';
import type { StartSpec } from '../../core/ports/runtime.ts';
import { DockerRuntime } from './docker-runtime.ts';

const available = await dockerIsAvailable();

if (available) {
  const contractDir = mkdtempSync(join(tmpdir(), 'slipway-docker-contract-'));
  runtimeContract('docker', async () => {
    const base = await ensureNodeImage();
    return {
      runtime: new DockerRuntime({ dataDir: contractDir, writeLog: appendMaskedLog }),
      argv: (script) => ['node', '-e', script],
      // Inside the container every interface; outside, the port is published on 127.0.0.1 only.
      extra: { image: (await docker.getImage(base.tag).inspect()).Id, env: { LISTEN_HOST: '0.0.0.0' } },
      cleanup: () => removeContainersOf(contractDir),
    };
  });
}

// A service small enough to pass as `node -e`: answers, logs, prints its secret once.
const SERVICE = `
const http = require('node:http');
console.log('starting with token ' + process.env.API_TOKEN);
http.createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '0.0.0.0', () => console.log('listening'));
process.on('SIGTERM', () => { console.log('bye'); process.exit(0); });
`;

describe.skipIf(!available)('docker runtime on a real engine', () => {
  let dataDir: string;
  let image: string;
  let runtime: DockerRuntime;
  const spec = (over: Partial<StartSpec> & { instanceId: string; port: number }): StartSpec => ({
    releaseDir: '/nonexistent', argv: ['node', '-e', SERVICE], env: { PORT: String(over.port), API_TOKEN: 's3cret-token-value' },
    logPath: join(dataDir, 'logs', `${over.instanceId}.log`), redact: ['s3cret-token-value'],
    owner: { service: 'tiny', env: 'test', release: 1 }, image, resources: null, ...over,
  });

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'slipway-docker-'));
    const base = await ensureNodeImage();
    image = (await docker.getImage(base.tag).inspect()).Id;
    runtime = new DockerRuntime({ dataDir, writeLog: appendMaskedLog });
  });

  afterAll(async () => {
    await runtime?.close();
    if (dataDir) await removeContainersOf(dataDir);
  });

  it('runs one labelled container per instance, published on 127.0.0.1 only, with limits, logs masked, and stops it', async () => {
    const port = await freePort();
    const s = spec({ instanceId: 'test-1-aaaaaa', port, resources: { memoryBytes: 64 * 1024 * 1024, cpus: 0.5 } });
    const handle = await runtime.start(s);
    expect(handle.ref).toMatch(/^[0-9a-f]{64}$/);
    const info = await docker.getContainer(handle.ref!).inspect();
    expect(info.Config.Labels).toMatchObject({ 'slipway.service': 'tiny', 'slipway.env': 'test', 'slipway.release': '1', 'slipway.instance': 'test-1-aaaaaa' });
    expect(info.HostConfig.PortBindings).toEqual({ [`${port}/tcp`]: [{ HostIp: '127.0.0.1', HostPort: String(port) }] });
    expect(info.HostConfig.Memory).toBe(64 * 1024 * 1024);
    expect(info.HostConfig.NanoCpus).toBe(5e8);
    // Its secret reached it by a file copied in, not by its config: `docker inspect` shows no value.
    expect(JSON.stringify(info)).not.toContain('s3cret-token-value');
    expect(info.Config.Env?.some((kv) => kv.startsWith('API_TOKEN='))).toBe(false);
    await waitFor('the container to answer', async () => (await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) }).then((r) => r.text()).catch(() => '')) === 'ok');
    expect(await runtime.isRunning(handle)).toBe(true);
    expect(await runtime.findById('test-1-aaaaaa')).toMatchObject({ ref: handle.ref });
    const usage = await runtime.usage(handle);
    expect(usage?.rssBytes).toBeGreaterThan(5 * 1024 * 1024);
    expect(usage?.cpuSeconds).toBeGreaterThan(0);
    expect(await runtime.stop(handle, { killTimeoutMs: 3000 })).toEqual({ killed: false });
    expect(await runtime.isRunning(handle)).toBe(false);
    const log = readFileSync(s.logPath, 'utf8');
    expect(log).toContain('starting with token ***');
    expect(log).toContain('bye');
    expect(log).not.toContain('s3cret-token-value');
    // Stopped and removed: nothing of it is left on the engine.
    await expect(docker.getContainer(handle.ref!).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it('a restarted server re-adopts a running container and copies its log on from where it stopped, with no line twice', async () => {
    const port = await freePort();
    const s = spec({ instanceId: 'test-1-bbbbbb', port, argv: ['node', '-e', `${SERVICE}; let n = 0; setInterval(() => { console.log('tick ' + (n++)); console.log('again ' + process.env.API_TOKEN); }, 50);`] });
    const handle = await runtime.start(s);
    // The log holds one JSON record a line (observe/log-records.ts); its msg is the line the container wrote.
    const messages = () => readFileSync(s.logPath, 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { msg: string }).msg);
    await waitFor('some ticks in the log', () => messages().includes('tick 5'));
    await runtime.close(); // the server goes away; the container keeps ticking
    await new Promise((r) => setTimeout(r, 500));
    const next = new DockerRuntime({ dataDir, writeLog: appendMaskedLog });
    expect(await next.findById('test-1-bbbbbb')).toMatchObject({ ref: handle.ref });
    await next.adopt(handle, { instanceId: 'test-1-bbbbbb', logPath: s.logPath });
    await next.stop(handle, { killTimeoutMs: 3000 });
    runtime = next;
    const ticks = messages().filter((l) => l.startsWith('tick '));
    const numbers = ticks.map((l) => Number(l.slice(5)));
    expect(numbers.length).toBeGreaterThan(10);
    expect(numbers).toEqual(numbers.map((_, i) => i)); // every tick once, in order, none lost while no one copied
    expect(readFileSync(s.logPath, 'utf8')).not.toContain('s3cret-token-value');
  });

  it('an image without /bin/sh gets its secrets as environment variables, and the server is told so', async () => {
    const noShell = (await docker.getImage((await ensureNodeImage({ shell: false })).tag).inspect()).Id;
    const warnings: string[] = [];
    const rt = new DockerRuntime({ dataDir, writeLog: appendMaskedLog, onWarning: (m) => warnings.push(m) });
    const port = await freePort();
    const s = spec({ instanceId: 'test-1-dddddd', port, image: noShell });
    const handle = await rt.start(s);
    try {
      await waitFor('the container to answer', async () => (await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) }).then((r) => r.text()).catch(() => '')) === 'ok');
      expect(warnings.join('\n')).toMatch(/no \/bin\/sh .*API_TOKEN as environment variables/);
      await waitFor('its first line in the log', () => readFileSync(s.logPath, 'utf8').includes('starting with token ***'));
    } finally {
      await rt.stop(handle, { killTimeoutMs: 3000 });
      await rt.close();
    }
  });

  it('keeps each line\'s stream: what a container writes to stderr is a stderr record, a warning, as from a process', async () => {
    const port = await freePort();
    const s = spec({ instanceId: 'test-1-gggggg', port, argv: ['node', '-e', `${SERVICE}; console.error('disk nearly full'); console.log('all well');`] });
    const handle = await runtime.start(s);
    const records = () => readFileSync(s.logPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string; stream: string; level: string });
    try {
      await waitFor('both lines in the log', () => ['disk nearly full', 'all well'].every((m) => records().some((r) => r.msg === m)));
      expect(records().find((r) => r.msg === 'disk nearly full')).toMatchObject({ stream: 'stderr', level: 'warn' });
      expect(records().find((r) => r.msg === 'all well')).toMatchObject({ stream: 'stdout', level: 'info' });
    } finally {
      await runtime.stop(handle, { killTimeoutMs: 3000 });
    }
  });

  it('a container killed for passing its memory limit says so in its log, where the exit is explained', async () => {
    const port = await freePort();
    // Touches 8 MB a tick until the kernel kills it: a service that leaks, and has no last words.
    const leak = `${SERVICE}; const kept = []; setInterval(() => kept.push(Buffer.alloc(8e6, 1)), 20);`;
    const s = spec({ instanceId: 'test-1-ffffff', port, argv: ['node', '-e', leak], resources: { memoryBytes: 64 * 1024 * 1024, cpus: null } });
    const handle = await runtime.start(s);
    try {
      await waitFor('the container to be killed', async () => !(await runtime.isRunning(handle)), 20_000);
      await runtime.flushOutput('test-1-ffffff', 5000);
      const records = readFileSync(s.logPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string; level: string });
      expect(records.at(-1)).toMatchObject({ level: 'error', msg: expect.stringMatching(/killed by the kernel for using more memory than its limit \(resources\.memory: 64 MiB\); exit status 137/) });
    } finally {
      await runtime.stop(handle, { killTimeoutMs: 1000 });
    }
  });

  it('says plainly when the engine is unreachable, the image is missing, or the port is taken', async () => {
    const nowhere = new DockerRuntime({ dataDir, writeLog: appendMaskedLog, docker: new Docker({ socketPath: join(dataDir, 'no-such.sock') }) });
    await expect(nowhere.start(spec({ instanceId: 'test-1-cccccc', port: await freePort() }))).rejects.toMatchObject({
      code: 'E_RUNTIME_UNAVAILABLE', message: expect.stringMatching(/cannot reach the Docker engine .*start dockerd, or point DOCKER_HOST/),
    });
    await expect(nowhere.isRunning({ pid: 0, procStart: null, ref: 'abc' })).rejects.toMatchObject({ code: 'E_RUNTIME_UNAVAILABLE' });

    await expect(runtime.start(spec({ instanceId: 'test-1-dddddd', port: await freePort(), image: `sha256:${'0'.repeat(64)}` }))).rejects.toMatchObject({
      code: 'E_IMAGE_MISSING', message: expect.stringMatching(/not on the Docker engine.*never pulls/),
    });
    expect(await runtime.hasImage(`sha256:${'0'.repeat(64)}`)).toBe(false);
    expect(await runtime.hasImage(image)).toBe(true);

    const taken: Server = createServer();
    const port = await new Promise<number>((r) => taken.listen(0, '127.0.0.1', () => r((taken.address() as { port: number }).port)));
    try {
      await expect(runtime.start(spec({ instanceId: 'test-1-eeeeee', port }))).rejects.toMatchObject({ code: 'E_PORT_TAKEN', message: expect.stringMatching(/port is taken/) });
    } finally {
      taken.close();
    }
    // Nothing is left behind by a start that failed.
    expect(await runtime.findById('test-1-eeeeee')).toBeNull();
    expect(await runtime.findById('test-1-dddddd')).toBeNull();
  });

  it('talks to the engine DOCKER_HOST names, and names it when it does not answer', async () => {
    const saved = process.env.DOCKER_HOST;
    try {
      process.env.DOCKER_HOST = `unix://${join(dataDir, 'elsewhere.sock')}`;
      await expect(new DockerRuntime({ dataDir }).hasImage(image)).rejects.toMatchObject({
        code: 'E_RUNTIME_UNAVAILABLE', message: expect.stringContaining(`cannot reach the Docker engine at unix://${join(dataDir, 'elsewhere.sock')}`),
      });
      process.env.DOCKER_HOST = saved || 'unix:///var/run/docker.sock';
      expect(await new DockerRuntime({ dataDir }).hasImage(image)).toBe(true);
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved;
    }
  });

  it('builds the image from the Dockerfile in the artefact once, and refuses an artefact without one', async () => {
    const ctx = mkdtempSync(join(tmpdir(), 'slipway-ctx-'));
    writeFileSync(join(ctx, 'Dockerfile'), `FROM ${(await ensureNodeImage()).tag}\nCOPY hello.txt /hello.txt\n`);
    writeFileSync(join(ctx, 'hello.txt'), `built at ${Date.now()}\n`);
    const { packDirectory } = await import('../../artefact/index.ts');
    const packed = await packDirectory({ dir: ctx });
    const req = { service: 'tiny', env: 'test', image: { dockerfile: 'Dockerfile', ref: null } as const, artefactPath: packed.file, artefactDigest: packed.digest };
    const t0 = performance.now();
    const id = await runtime.prepareImage(req);
    const firstMs = performance.now() - t0;
    expect(id).toMatch(/^sha256:/);
    expect(await runtime.prepareImage(req)).toBe(id); // same artefact: same image, no rebuild
    console.log(`image of a small artefact built in ${Math.round(firstMs)} ms`);
    await expect(runtime.prepareImage({ ...req, image: { dockerfile: 'docker/Dockerfile', ref: null } })).rejects.toMatchObject({
      code: 'E_DEPLOY_FAILED', message: expect.stringMatching(/docker\/Dockerfile/),
    });
  });

  it("gives the image's files the time of its build, not the artefact's fixed 1980, with their bytes and modes", async () => {
    // Static-file servers answer If-Modified-Since and ETags from mtime and size:
    // every image at 1980 made a browser holding the old page keep it after a deploy.
    const ctx = mkdtempSync(join(tmpdir(), 'slipway-ctx-'));
    writeFileSync(join(ctx, 'Dockerfile'), `FROM ${(await ensureNodeImage()).tag}\nCOPY site /site\n`);
    mkdirSync(join(ctx, 'site', 'deep'), { recursive: true });
    writeFileSync(join(ctx, 'site', 'index.html'), `<h1>${Date.now()}</h1>\n`);
    writeFileSync(join(ctx, 'site', 'deep', 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
    const { packDirectory } = await import('../../artefact/index.ts');
    const packed = await packDirectory({ dir: ctx });
    const before = Date.now();
    const id = await runtime.prepareImage({ service: 'tiny', env: 'test', image: { dockerfile: 'Dockerfile', ref: null }, artefactPath: packed.file, artefactDigest: packed.digest });
    const container = await docker.createContainer({ Image: id, Cmd: ['/bin/sh', '-c', 'true'] });
    try {
      const entries = new Map<string, { mtime: number; mode: number; body: string }>();
      const parser = new TarParser();
      parser.on('entry', (e: ReadEntry) => {
        let body = '';
        e.on('data', (c: Buffer) => (body += c.toString()));
        e.on('end', () => entries.set(e.path, { mtime: e.mtime!.getTime(), mode: e.mode! & 0o777, body }));
      });
      const archive = (await container.getArchive({ path: '/site' })) as NodeJS.ReadableStream;
      await new Promise<void>((resolve, reject) => archive.pipe(parser).on('end', resolve).on('error', reject));
      const index = entries.get('site/index.html');
      expect(index?.body).toMatch(/^<h1>\d+<\/h1>\n$/);
      expect(index!.mtime).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
      expect(entries.get('site/deep/run.sh')).toMatchObject({ mode: 0o755, body: '#!/bin/sh\necho hi\n' });
      expect(entries.get('site/deep/run.sh')!.mtime).toBe(index!.mtime);
    } finally {
      await container.remove({ force: true });
    }
  });
});
