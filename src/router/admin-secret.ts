// The secret that lets the server, and only the server, steer the router. The
// server side makes a new one (32 random bytes) each time it starts a router, hands
// it to that process in its environment, and keeps it in the router's state dir
// (0700, the file 0600) so that a server restarted after a crash can adopt the
// router still running. Every admin request carries it as `Authorization: Bearer`.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SlipwayError } from '../core/errors.ts';
import { writeFileAtomic } from './atomic-file.ts';

/** The variable the router process reads its secret from (and then removes from its environment). */
export const ROUTER_SECRET_ENV = 'SLIPWAY_ROUTER_SECRET';
export const ADMIN_SECRET_FILE = 'admin.secret';

const SECRET_PATTERN = /^[0-9a-f]{64}$/;

export function newAdminSecret(): string {
  return randomBytes(32).toString('hex');
}

/** The secret as written (64 lowercase hex digits), or an error that says where it came from. */
export function parseAdminSecret(text: string | undefined, source: string): string {
  const secret = (text ?? '').trim();
  if (!SECRET_PATTERN.test(secret)) {
    throw new SlipwayError('E_BAD_REQUEST', `${source} must hold the router's admin secret (64 hex digits); the router is started by the slipway server, which makes one`);
  }
  return secret;
}

/**
 * Creates the router's state dir readable by this user alone. An existing dir is
 * narrowed too: data dirs made before the secret existed were 0755.
 */
export async function prepareStateDir(stateDir: string): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await chmod(stateDir, 0o700);
}

export async function writeAdminSecret(stateDir: string, secret: string): Promise<void> {
  await writeFileAtomic(join(stateDir, ADMIN_SECRET_FILE), `${secret}\n`, 0o600);
}

/** The secret in the state dir, or null when there is none or it is not one. */
export async function readAdminSecret(stateDir: string): Promise<string | null> {
  try {
    return parseAdminSecret(await readFile(join(stateDir, ADMIN_SECRET_FILE), 'utf8'), ADMIN_SECRET_FILE);
  } catch {
    return null;
  }
}

/**
 * Whether an Authorization header carries the secret. Both sides are hashed first,
 * so the comparison takes the same time whatever the presented value's length.
 */
export function carriesSecret(authorization: string | undefined, secret: string): boolean {
  const presented = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1] ?? '';
  return timingSafeEqual(sha256(presented), sha256(secret));
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
