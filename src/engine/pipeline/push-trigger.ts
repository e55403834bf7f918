// Starting runs from git: a push webhook (GitHub-style, HMAC-SHA256 signed) for the
// repository this server releases from, configured by the server's environment:
//   SLIPWAY_WEBHOOK_SECRET  the shared secret (required; without it the endpoint refuses)
//   SLIPWAY_WEBHOOK_REPO    the local clone to release from (absolute path)
//   SLIPWAY_WEBHOOK_BRANCH  the branch whose pushes start a run (default main)
//   SLIPWAY_WEBHOOK_SUBDIR  the service's directory in the repository (default the top)

import { createHmac, timingSafeEqual } from 'node:crypto';
import { spawn } from 'node:child_process';
import { SlipwayError } from '../../core/errors.ts';
import { GIT_GUARDS, gitEnv } from './git-source.ts';

export interface WebhookSettings {
  secret: string;
  repo: string;
  branch: string;
  subdir: string;
}

export function webhookSettings(env: NodeJS.ProcessEnv): WebhookSettings | null {
  const secret = env.SLIPWAY_WEBHOOK_SECRET;
  const repo = env.SLIPWAY_WEBHOOK_REPO;
  if (!secret || !repo) return null;
  return { secret, repo, branch: env.SLIPWAY_WEBHOOK_BRANCH || 'main', subdir: env.SLIPWAY_WEBHOOK_SUBDIR || '' };
}

/** Throws unless `header` is `sha256=<hex>` of HMAC-SHA256(secret, body); compared in constant time. */
export function assertSignature(secret: string, body: string, header: string | undefined): void {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
  const given = Buffer.from(typeof header === 'string' ? header : '');
  // Lengths first (timingSafeEqual needs equal lengths); a wrong length says nothing about the secret.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new SlipwayError('E_WEBHOOK_SIGNATURE', 'the webhook signature (X-Hub-Signature-256) does not match; check the secret configured on both sides');
  }
}

export interface PushEvent {
  ref: string;
  after: string;
  pusher: string;
}

/** The parts of a push payload a run needs; null for anything that is not a push of a commit. */
export function parsePush(body: string): PushEvent | null {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    throw new SlipwayError('E_BAD_REQUEST', 'the webhook body is not valid JSON');
  }
  const o = v as { ref?: unknown; after?: unknown; deleted?: unknown; pusher?: { name?: unknown } };
  if (typeof o.ref !== 'string' || typeof o.after !== 'string' || !/^[0-9a-f]{40}$/.test(o.after) || o.deleted === true || /^0+$/.test(o.after)) return null;
  const pusher = typeof o.pusher?.name === 'string' && /^[\w.@-]{1,64}$/.test(o.pusher.name) ? o.pusher.name : 'unknown';
  return { ref: o.ref, after: o.after, pusher };
}

/** Fetches the branch from origin when the clone has one, so the pushed commit is there to build. */
export function fetchBranch(repo: string, branch: string): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn('git', [...GIT_GUARDS, '-C', repo, 'fetch', '--quiet', 'origin', `refs/heads/${branch}`], { stdio: 'ignore', env: gitEnv() });
    child.on('error', () => resolve());
    child.on('close', () => resolve());
  });
}
