// Secrets reach a container as a file copied into it before it starts, never as
// environment variables in its config: `docker inspect` (and anyone allowed to ask
// the engine for a container's config) shows the config, and the config is what
// the engine keeps on disk in config.v2.json. A small /bin/sh loader turns the file
// into environment variables and execs the image's own entrypoint and command, so
// the service sees exactly what a process instance sees.
//
// An image without /bin/sh (FROM scratch, distroless) cannot run the loader: its
// secrets go as environment variables as before, with a warning saying so.

import type Docker from 'dockerode';
import { Header, Parser, type ReadEntry } from 'tar';
import { isNotFound } from './engine-errors.ts';

export const SECRETS_DIR = '/run/slipway';
export const SECRETS_ENV_FILE = `${SECRETS_DIR}/secrets.env`;
/** The same values as JSON, for this server to read back (to mask them in logs) when it re-adopts the container. */
export const SECRETS_JSON_FILE = `${SECRETS_DIR}/secrets.json`;

/** The loader: `sh -c LOADER slipway-secrets <entrypoint...> <command...>`. */
export const SECRETS_LOADER = `set -a; . ${SECRETS_ENV_FILE}; set +a; exec "$@"`;

const BLOCK = 512;

/** A POSIX-shell single-quoted word: safe for any value, newlines included. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** The secrets file: one `NAME='value'` assignment per secret, for the loader to source. */
export function secretsEnvFile(secrets: Record<string, string>): string {
  return Object.entries(secrets).map(([k, v]) => `${k}=${shellQuote(v)}\n`).join('');
}

function tarFile(path: string, body: Buffer): Buffer[] {
  const header = new Header({
    path, mode: 0o444, uid: 0, gid: 0, size: body.length, mtime: new Date(0), type: 'File',
  });
  const block = Buffer.alloc(BLOCK);
  header.encode(block, 0);
  const padding = (BLOCK - (body.length % BLOCK)) % BLOCK;
  return [block, body, Buffer.alloc(padding)];
}

/**
 * The archive put at `/` of the container: the env file and its JSON twin. Mode
 * 0444: the container's user may be any (USER node, say), and everything in the
 * container is the service itself.
 */
export function secretsArchive(secrets: Record<string, string>): Buffer {
  return Buffer.concat([
    ...tarFile(SECRETS_ENV_FILE.slice(1), Buffer.from(secretsEnvFile(secrets))),
    ...tarFile(SECRETS_JSON_FILE.slice(1), Buffer.from(JSON.stringify(secrets))),
    Buffer.alloc(2 * BLOCK),
  ]);
}

/** Whether a created container's filesystem has /bin/sh (the archive API answers before it starts). */
export async function hasShell(container: Docker.Container): Promise<boolean> {
  try {
    await container.infoArchive({ path: '/bin/sh' });
    return true;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}

/** The values a container was given by file; null when it has none (or it is gone). */
export async function readBackSecrets(container: Docker.Container): Promise<string[] | null> {
  let archive: NodeJS.ReadableStream;
  try {
    archive = await container.getArchive({ path: SECRETS_JSON_FILE });
  } catch (e) {
    if (isNotFound(e)) return null;
    throw e;
  }
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const parser = new Parser({
      onReadEntry: (entry: ReadEntry) => {
        entry.on('data', (c: Buffer) => chunks.push(c));
      },
    });
    parser.on('end', () => resolve());
    parser.on('error', reject);
    archive.on('error', reject);
    archive.pipe(parser as unknown as NodeJS.WritableStream);
  });
  const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, string>;
  return Object.values(parsed);
}
