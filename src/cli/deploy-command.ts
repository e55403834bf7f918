// `slipway deploy <env>`: validate locally, send what changed, start the rollout, follow it.

import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { knownDigest, scanDirectory } from '../artefact/index.ts';
import type { DeployBody } from '../api/schemas.ts';
import { envKey, splitEnvKey } from '../core/env-key.ts';
import { SlipwayError } from '../core/errors.ts';
import { parseConfigText, readConfigText } from '../config/index.ts';
import { checkRunProgram } from '../config/program-check.ts';
import { suggestKey } from '../config/did-you-mean.ts';
import pc from 'picocolors';
import { followRollout, type ApiClient } from './api-client.ts';
import { formatEvent, formatRolloutLine } from './output.ts';
import { sendChangedFiles, type UploadCounts } from './send-changes.ts';
import { noteWaitingOn } from './interrupt-note.ts';
import { withWaitNotice } from './wait-notice.ts';

/** How often a deploy says it still waits for the server to make the release. */
const WAIT_NOTICE_MS = 10_000;

export interface DeployOptions {
  /** Asked for only after the local checks pass, so a bad config is reported before a missing server. */
  client: ApiClient | (() => ApiClient);
  env: string;
  dir: string;
  file: string;
  detach: boolean;
  force: boolean;
  json: boolean;
}

/** Returns the exit code: 0 when the rollout succeeded (or nothing changed), 1 otherwise. */
export async function runDeploy(o: DeployOptions): Promise<number> {
  const dir = resolve(o.dir);
  const configPath = resolve(dir, o.file);
  const text = readConfigText(configPath); // missing, a directory, unreadable: E_CONFIG_NOT_FOUND, named
  const config = parseConfigText(text, o.file); // fail here, before packing, with file:line:col
  const named = splitEnvKey(o.env);
  if (named.service !== null && named.service !== config.service) {
    throw new SlipwayError('E_SERVICE_MISMATCH', `${o.env} is an environment of service "${named.service}", and ${o.file} is service "${config.service}"; a deploy never touches another service's environment (deploy from ${named.service}'s directory, or name ${envKey(config.service, named.environment)})`);
  }
  if (!config.environments[named.environment]) {
    const names = Object.keys(config.environments);
    const close = suggestKey(named.environment, names);
    throw new SlipwayError('E_ENV_UNKNOWN', `${o.file} has no environment "${named.environment}"${close ? `; did you mean "${close}"?` : ''}; it has: ${names.join(', ')}`);
  }
  // The key is made from this slipway.yaml's service: the deploy cannot land in another's.
  const key = envKey(config.service, named.environment);
  const say = (s: string) => !o.json && process.stdout.write(`${s}\n`);
  const client = typeof o.client === 'function' ? o.client() : o.client;
  // A release is this directory as it is: uninstalled dependencies, or a script a
  // build makes (dist/server.js) that was never built, fail its first instance,
  // which the rollout then explains with the instance's log. Said before. Only
  // warned of: the server's PATH may hold a program this machine's lacks.
  if (config.environments[named.environment]!.runtime === 'process') {
    const found = checkRunProgram(config, { serviceDir: dir, pathEnv: process.env.PATH ?? '' });
    for (const issue of [...found.errors, ...found.warnings]) process.stderr.write(`${pc.yellow('warning')} ${issue.message}\n`);
  }
  const outFile = join(tmpdir(), `slipway-artefact-${process.pid}-${Date.now()}.tar.gz`);
  try {
    // The tree's stat fingerprint first: when it is the tree sent last time, its
    // artefact's digest is known without reading a file (artefact/pack-cache.ts).
    const tree = await scanDirectory({ dir, outFile });
    const upload: UploadCounts = { via: 'remembered', files: tree.fileCount, sentFiles: 0, alreadyOnServer: tree.fileCount, sentBytes: 0, wireBytes: 0, hashedFiles: 0 };
    let body: DeployBody = { artefact: '', config: { text, file: o.file }, force: o.force };
    const known = knownDigest(tree);
    // Asked before anything is sent: a deploy that a gate, the policy or a listen
    // clash refuses answers without sending a file, and one the server holds
    // already (nothing changed, another environment's, an earlier release's) is
    // not sent again.
    let sendChanges = true;
    if (known) {
      say(`${known.fileCount.toLocaleString('en-US')} files unchanged since they were sent as ${known.digest.slice(0, 19)}…: not reading them again`);
      body = { ...body, artefact: known.digest };
      const plan = await client.plan(key, body);
      sendChanges = plan.artefact.onServer !== true;
      if (!sendChanges && !plan.unchanged) say('the server holds this artefact already: not uploading it');
    }
    if (sendChanges) body = { ...body, artefact: await sendChangedFiles({ client, key, body, tree, outFile, service: config.service, upload, say }) };
    // The server makes the release (unpacks and checks the artefact, or builds an image) before it answers.
    const answer = await withWaitNotice(client.deploy(key, body), WAIT_NOTICE_MS, say, (s) => `still making release of ${o.env} on the server (${s} s): unpacking and checking the artefact, or building its image`);
    if (answer.unchanged || !answer.rollout) {
      say(`${o.env} already runs this artefact and config as #${answer.release.number}; nothing to do (use --force to redeploy)`);
      if (o.json) process.stdout.write(`${JSON.stringify({ ...answer, upload }, null, 2)}\n`);
      return 0;
    }
    say(`release ${o.env}#${answer.release.number}: rollout #${answer.rollout.id} (${answer.rollout.steps.length} steps)`);
    noteWaitingOn(`rollout #${answer.rollout.id}`, o.env);
    if (o.detach) {
      if (o.json) process.stdout.write(`${JSON.stringify({ ...answer, upload }, null, 2)}\n`);
      return 0;
    }
    const shown = new Set<string>();
    const final = await followRollout(client, answer.rollout.id, (e) => say(formatEvent(e, shown)));
    if (o.json) process.stdout.write(`${JSON.stringify({ release: answer.release, rollout: final, upload }, null, 2)}\n`);
    else say(formatRolloutLine(final, shown));
    return final.phase === 'succeeded' ? 0 : 1;
  } finally {
    rmSync(outFile, { force: true });
  }
}
