// Docker test support: is an engine here (and what to do when it is not), a base
// image made from this machine's own node binary (no registry is reachable in CI),
// and cleanup of the containers a test's server started.
//
// Outside CI without an engine the Docker tests skip, saying so loudly; with CI set
// a missing engine fails them.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { create as createTar } from 'tar';
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export const docker = new Docker();

async function engineAnswers(): Promise<string | null> {
  try {
    await docker.ping();
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

/** true when the Docker tests can run; throws in CI when they cannot; warns loudly and returns false elsewhere. */
export async function dockerIsAvailable(): Promise<boolean> {
  const problem = await engineAnswers();
  if (problem === null) return true;
  const where = process.env.DOCKER_HOST || 'unix:///var/run/docker.sock';
  if (process.env.CI) throw new Error(`CI is set but no Docker engine answers at ${where} (${problem}): the Docker tests must run in CI; .ci/run starts dockerd`);
  const bar = '!'.repeat(78);
  console.warn(`\n${bar}\n!!! SKIPPING THE DOCKER TESTS: no Docker engine answers at ${where}\n!!! (${problem})\n!!! Start one (apt-get install -y docker.io; dockerd &) to run them. In CI this is a failure.\n${bar}\n`);
  return false;
}

/** The shared libraries a binary loads, as absolute paths (from ldd). */
function sharedLibraries(binary: string): string[] {
  const out = execFileSync('ldd', [binary], { encoding: 'utf8' });
  return [...out.matchAll(/(\/\S+)\s+\(0x/g)].map((m) => m[1]!).filter((p) => existsSync(p));
}

/** The tag of the base image: this node binary, so a different node makes a different image. */
export function nodeImageTag(o: { shell?: boolean } = {}): string {
  const shell = o.shell ?? true;
  const id = createHash('sha256').update(`${process.version} ${realpathSync(process.execPath)} workdir-app${shell ? ' sh' : ''}`).digest('hex').slice(0, 12);
  return `slipway-test/node${shell ? '' : '-noshell'}:${process.version}-${id}`;
}

/**
 * An image holding only this machine's node binary, /bin/sh (as most service images
 * have one; `shell: false` leaves it out, as distroless images do) and the libraries
 * they load (docker import of a tarball; no registry needed). Made once per engine;
 * returns its tag and how long making it took (0 when it was there already).
 */
export async function ensureNodeImage(o: { shell?: boolean; tag?: string } = {}): Promise<{ tag: string; buildMs: number }> {
  const shell = o.shell ?? true;
  const tag = o.tag ?? nodeImageTag({ shell });
  try {
    await docker.getImage(tag).inspect();
    return { tag, buildMs: 0 };
  } catch {
    // not there yet
  }
  const started = performance.now();
  const node = realpathSync(process.execPath);
  const sh = realpathSync('/bin/sh');
  const binaries = shell ? [node, sh] : [node];
  const files = [...new Set([...binaries, ...binaries.flatMap(sharedLibraries), ...(shell ? ['/bin/sh'] : [])])].map((p) => p.slice(1));
  // follow: the libraries are symlinks on the host; the image gets the files themselves.
  const tarball = createTar({ cwd: '/', follow: true, portable: true }, files);
  const [repo, version] = tag.split(':') as [string, string];
  const progress = await docker.importImage(tarball as unknown as NodeJS.ReadableStream, {
    repo, tag: version,
    // Settings here, not in the Dockerfile: each Dockerfile line is a container commit, about a second here.
    changes: [`ENV PATH=${node.slice(0, node.lastIndexOf('/'))}:/usr/local/bin:/usr/bin:/bin`, 'ENV HOST=0.0.0.0', 'WORKDIR /app', 'CMD ["node", "server.js"]'],
  } as object);
  await new Promise<void>((resolve, reject) => docker.modem.followProgress(progress, (err: Error | null) => (err ? reject(err) : resolve())));
  await docker.getImage(tag).inspect();
  return { tag, buildMs: Math.round(performance.now() - started) };
}

/** The Dockerfile the example service is built with in the tests: its files on the node image. */
export function helloDockerfile(baseTag: string): string {
  return [`FROM ${baseTag}`, 'COPY . /app', ''].join('\n');
}

/** Containers a server on this data directory started (running or not). */
export async function containersOf(dataDir: string, all = true): Promise<Docker.ContainerInfo[]> {
  const id = createHash('sha256').update(dataDir).digest('hex').slice(0, 16);
  return docker.listContainers({ all, filters: { label: [`slipway.data-dir=${id}`] } });
}

/** Belt and braces after a test: no container of its server is left behind. */
export async function removeContainersOf(dataDir: string): Promise<void> {
  for (const c of await containersOf(dataDir).catch(() => [])) {
    await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  }
}

export function dataDirOf(work: string): string {
  return join(work, '.slipway');
}

/** A unix socket that relays to the engine's, and can be cut (every connection dropped, the socket gone) and restored. */
export class EngineRelay {
  private server: Server | null = null;
  private readonly open = new Set<Socket>();
  constructor(readonly path: string, private readonly target = '/var/run/docker.sock') {}

  async up(): Promise<void> {
    if (this.server) return;
    rmSync(this.path, { force: true });
    const server = createServer((client) => {
      const engine = createConnection(this.target);
      for (const s of [client, engine]) {
        this.open.add(s);
        s.on('close', () => this.open.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(engine).pipe(client);
      client.on('close', () => engine.destroy());
      engine.on('close', () => client.destroy());
    });
    await new Promise<void>((r) => server.listen(this.path, r));
    this.server = server;
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.open) s.destroy();
    if (server) await new Promise<void>((r) => server.close(() => r()));
    rmSync(this.path, { force: true });
  }
}
